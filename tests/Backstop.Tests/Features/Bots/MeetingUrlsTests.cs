using Backstop.Features.Bots;

namespace Backstop.Tests.Features.Bots;

public sealed class MeetingUrlsTests
{
    [Theory]
    // Zoom: host case and tracking parameters go, the passcode stays.
    [InlineData("HTTPS://US02WEB.Zoom.US/j/85412345678?pwd=AbCdEf123&utm_source=calendar&utm_medium=email#success",
        "https://us02web.zoom.us/j/85412345678?pwd=AbCdEf123")]
    [InlineData("https://zoom.us:443/j/85412345678/", "https://zoom.us/j/85412345678")]
    // Google Meet: the account index and the trailing slash go.
    [InlineData("https://meet.google.com/abc-defg-hij/?authuser=1", "https://meet.google.com/abc-defg-hij")]
    [InlineData("https://Meet.Google.com/abc-defg-hij?hs=122&authuser=0&gclid=xyz", "https://meet.google.com/abc-defg-hij?hs=122")]
    // Teams: the encoded thread id and the context stay exactly as given.
    [InlineData("https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA4ZTk0%40thread.v2/0?context=%7b%22Tid%22%3a%2272f9%22%7d&fbclid=IwAR0",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA4ZTk0%40thread.v2/0?context=%7b%22Tid%22%3a%2272f9%22%7d")]
    [InlineData("  https://teams.live.com/meet/9876543210?p=abc  ", "https://teams.live.com/meet/9876543210?p=abc")]
    public void Links_to_one_meeting_normalise_to_one_form(string input, string expected)
    {
        MeetingUrls.TryNormalize(input, out var normalized).ShouldBeTrue();
        normalized.ShouldBe(expected);
    }

    [Theory]
    [InlineData("")]
    [InlineData("zoom.us/j/123")]
    [InlineData("ftp://zoom.us/j/123")]
    [InlineData("javascript:alert(1)")]
    [InlineData("/j/123")]
    public void What_is_not_an_http_link_is_refused(string input) =>
        MeetingUrls.TryNormalize(input, out _).ShouldBeFalse();

    [Fact]
    public void The_path_keeps_its_case()
    {
        MeetingUrls.TryNormalize("https://zoom.us/my/JaneDoe", out var normalized).ShouldBeTrue();
        normalized.ShouldBe("https://zoom.us/my/JaneDoe");
    }
}
