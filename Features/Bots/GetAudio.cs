using Backstop.Infrastructure.Storage;
using FastEndpoints;

namespace Backstop.Features.Bots;

/// <summary><c>GET /v1/meetings/{id}/audio</c>: the stored recording, streamed from storage (never buffered whole).</summary>
internal sealed class GetAudio(Meetings meetings, IFileStore files) : Endpoint<MeetingIdRequest>
{
    public override void Configure()
    {
        Get("/v1/meetings/{id}/audio");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "Download the meeting's stored recording.");
        Description(d => d.Answers<Stream>(200, "audio/mpeg").Problems(404));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var meeting = await meetings.GetAsync(User.OrganizationId(), req.Id, ct);
        var file = meeting.AudioKey is { } key ? await files.OpenReadAsync(key, ct) : null;
        if (file is null) throw new ProblemException(404, "audio_not_found", "This meeting has no stored recording.");
        await using var content = file.Content;
        var name = meeting.AudioKey!.Split('/')[^1];
        await Send.StreamAsync(content, name, file.Size ?? meeting.AudioSize, SecurityHeaders.DownloadContentType(meeting.AudioContentType ?? file.ContentType), cancellation: ct);
    }
}
