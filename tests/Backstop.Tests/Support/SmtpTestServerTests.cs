using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Backstop.Tests.Support;

/// <summary>MailKit against the SmtpServer fake: what it keeps is what was sent, and a refusal reaches the client as given.</summary>
public sealed class SmtpTestServerTests : IAsyncLifetime
{
    private readonly SmtpTestServer smtp = new();
    private readonly SmtpClient client = new();

    public async ValueTask InitializeAsync() => await client.ConnectAsync("127.0.0.1", smtp.Port, SecureSocketOptions.None);

    public async ValueTask DisposeAsync()
    {
        if (client.IsConnected) await client.DisconnectAsync(quit: true);
        client.Dispose();
        await smtp.DisposeAsync();
    }

    private static MimeMessage Message(string subject, string text, params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@backstop.test"));
        foreach (var address in to) message.To.Add(MailboxAddress.Parse(address));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = text };
        return message;
    }

    [Fact]
    public async Task A_message_is_kept_with_its_envelope_and_content()
    {
        // A line that starts with a dot is stuffed by MailKit; the server must unstuff it.
        var text = "Hello\n.starts with a dot\n..two dots\nünïcode";
        await client.SendAsync(Message("Grüße", text, "a@example.com", "b@example.com"));

        var mail = smtp.Received.ShouldHaveSingleItem();
        mail.From.ShouldBe("sender@backstop.test");
        mail.To.ShouldBe(["a@example.com", "b@example.com"]);
        mail.Message.Subject.ShouldBe("Grüße");
        // The CRLF before the terminating "." ends the last line (RFC 5321 4.1.1.4), so whether the text ended in one is not kept.
        mail.Message.TextBody.ShouldNotBeNull().TrimEnd('\r', '\n').ShouldBe(text);
    }

    [Theory]
    [InlineData("451 4.3.0 Try again later", 451, "4.3.0 Try again later")]
    [InlineData("550 5.1.1 No such user", 550, "5.1.1 No such user")]
    public async Task A_rejection_answers_data_with_the_given_reply_for_that_recipient_and_times_only(string reply, int code, string text)
    {
        smtp.RejectNextData("refused@example.com", reply, times: 2);

        for (var i = 0; i < 2; i++)
        {
            var e = await Should.ThrowAsync<SmtpCommandException>(() => client.SendAsync(Message("No", "body", "refused@example.com")));
            e.ErrorCode.ShouldBe(SmtpErrorCode.MessageNotAccepted);
            ((int)e.StatusCode).ShouldBe(code);
            e.Message.ShouldBe(text);
        }
        await client.SendAsync(Message("Other", "body", "other@example.com"));
        await client.SendAsync(Message("Yes", "body", "refused@example.com"));

        smtp.Received.Select(m => m.Message.Subject).ShouldBe(["Other", "Yes"]);
    }

    [Fact]
    public void A_reply_that_is_not_a_failure_is_refused() =>
        Should.Throw<ArgumentException>(() => smtp.RejectNextData("x@example.com", "250 Ok"));
}
