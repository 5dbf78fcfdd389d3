namespace Backstop.Infrastructure.Observability;

/// <summary><c>backstop healthcheck [url]</c>: exit 0 when the instance answers 200 on /health/ready, else 1.</summary>
public static class HealthProbe
{
    public static async Task<int> RunAsync(string? url)
    {
        url ??= Environment.GetEnvironmentVariable("BACKSTOP_HEALTHCHECK_URL") ?? "http://127.0.0.1:8080/health/ready";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url);
            await Console.Out.WriteLineAsync($"{url} answered {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await Console.Out.WriteLineAsync($"{url} did not answer: {e.Message}");
            return 1;
        }
    }
}
