using Backstop.Infrastructure.Outbox.Email;
using MailKit.Security;

namespace Backstop.Tests.Infrastructure;

public sealed class SmtpTlsModeTests
{
    [Theory]
    [InlineData("auto", 587, null, SecureSocketOptions.Auto)]
    [InlineData("auto", 587, "secret", SecureSocketOptions.StartTls)]
    [InlineData("AUTO", 25, "secret", SecureSocketOptions.StartTls)]
    [InlineData("auto", 465, "secret", SecureSocketOptions.SslOnConnect)]
    [InlineData("none", 587, "secret", SecureSocketOptions.None)]
    [InlineData("starttls", 587, null, SecureSocketOptions.StartTls)]
    [InlineData("ssl", 465, null, SecureSocketOptions.SslOnConnect)]
    public void Auto_requires_tls_once_a_password_is_configured_and_plaintext_needs_an_explicit_none(string mode, int port, string? password, SecureSocketOptions expected) =>
        EmailChannel.SocketOptions(new SmtpOptions { TlsMode = mode, Port = port, User = password is null ? null : "user", Password = password }).ShouldBe(expected);
}
