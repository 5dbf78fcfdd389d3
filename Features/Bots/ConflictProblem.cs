using System.Text.Json;
using Backstop.Infrastructure.Errors;

namespace Backstop.Features.Bots;

/// <summary>The problem body of a <see cref="MeetingConflictException"/>: the usual fields plus <c>meetingId</c>, the meeting that holds the bot or URL.</summary>
internal static class ConflictProblem
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task WriteAsync(HttpContext context, MeetingConflictException e)
    {
        var problem = Problem.For(context, 409, e.Code, e.Message);
        context.Response.StatusCode = 409;
        context.Response.ContentType = Problem.ContentType;
        await context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            problem.Type, problem.Title, problem.Status, problem.Detail, problem.Code, problem.Instance, problem.RequestId,
            meetingId = e.MeetingId,
        }, Json), context.RequestAborted);
    }
}
