using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Backstop.Infrastructure.Providers.Recall;

/// <summary>
/// Downloads a recording from the pre-signed link Recall gives (no Recall credentials go to that host), carefully:
/// only from a host of <see cref="RecallOptions.MediaHosts"/>, over HTTPS unless the host is loopback, following a
/// redirect only to the same host (at most <see cref="MaxRedirects"/>), within <see cref="RecallOptions.DownloadTimeoutMinutes"/>
/// for headers and body together, and never more than <see cref="RecallOptions.MaxRecordingBytes"/> (a larger
/// Content-Length is refused before the body is read; the bytes streamed are counted too). The client does not
/// follow redirects itself (see <see cref="RecallRegistration"/>).
/// </summary>
internal sealed class RecordingDownloader(HttpClient http, IOptions<RecallOptions> options, TimeProvider time)
{
    public const int MaxRedirects = 3;

    /// <summary>Whether a host is one Recall's recordings may be downloaded from (a <c>*.</c> pattern matches any subdomain).</summary>
    public static bool IsAllowedHost(string host, IEnumerable<string> patterns) => patterns.Any(p =>
        p.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(p[1..], StringComparison.OrdinalIgnoreCase) && host.Length > p.Length - 1
            : string.Equals(host, p, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Opens the recording and hands its checked body to <paramref name="store"/> (with the content type); a body
    /// that outgrows the cap or ends short of its Content-Length throws <see cref="RecordingRefusedException"/> from
    /// the stream's reads. A non-success answer of the allowed host answers its status (null when stored).
    /// </summary>
    public async Task<(int? FailedStatus, T? Stored)> DownloadAsync<T>(string url, Func<Stream, string, CancellationToken, Task<T>> store, CancellationToken ct)
    {
        var o = options.Value;
        // The total budget, headers and body together, on the app's clock.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(o.DownloadTimeoutMinutes), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            var uri = Check(url, null);
            for (var redirects = 0; ; redirects++)
            {
                using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, linked.Token);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    if (redirects >= MaxRedirects) throw new RecordingRefusedException("redirect_refused", $"More than {MaxRedirects} redirects.");
                    uri = Check(new Uri(uri, location).ToString(), uri);
                    continue;
                }
                if (!response.IsSuccessStatusCode) return ((int)response.StatusCode, default);
                var length = response.Content.Headers.ContentLength;
                if (length > o.MaxRecordingBytes)
                    throw new RecordingRefusedException("too_large", $"The recording is {length} bytes, over Recall:MaxRecordingBytes ({o.MaxRecordingBytes}).");
                var contentType = response.Content.Headers.ContentType?.MediaType ?? "audio/mpeg";
                await using var body = await response.Content.ReadAsStreamAsync(linked.Token);
                await using var counted = new CountedStream(body, length, o.MaxRecordingBytes);
                // The counted stream checks the length when the store reads its end.
                return (null, await store(counted, contentType, linked.Token));
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new RecordingRefusedException("timeout", $"The download did not finish within Recall:DownloadTimeoutMinutes ({o.DownloadTimeoutMinutes}).");
        }
    }

    private Uri Check(string url, Uri? from)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            throw new RecordingRefusedException("host_not_allowed", "The recording link is not an http(s) URL.");
        if (from is not null && !string.Equals(uri.IdnHost, from.IdnHost, StringComparison.OrdinalIgnoreCase))
            throw new RecordingRefusedException("redirect_refused", $"The recording link redirects to another host ({uri.IdnHost}).");
        if (!IsAllowedHost(uri.IdnHost, options.Value.MediaHostList))
            throw new RecordingRefusedException("host_not_allowed", $"The recording host {uri.IdnHost} is not in Recall:MediaHosts.");
        if (uri.Scheme != "https" && !uri.IsLoopback)
            throw new RecordingRefusedException("not_https", "The recording link is not HTTPS.");
        return uri;
    }

    /// <summary>Counts what is read: over the cap, or a body shorter or longer than its Content-Length, is refused.</summary>
    private sealed class CountedStream(Stream inner, long? expected, long cap) : Stream
    {
        private long read;

        public override int Read(byte[] buffer, int offset, int count)
        {
            try
            {
                return Count(inner.Read(buffer, offset, count));
            }
            catch (HttpIOException e) when (e.HttpRequestError == HttpRequestError.ResponseEnded)
            {
                throw Short(e);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return Count(await inner.ReadAsync(buffer, cancellationToken));
            }
            catch (HttpIOException e) when (e.HttpRequestError == HttpRequestError.ResponseEnded)
            {
                throw Short(e);
            }
        }

        /// <summary>
        /// The connection closed before the Content-Length was read (HttpClient says so before our count can): the body
        /// does not match its length.
        /// </summary>
        private RecordingRefusedException Short(HttpIOException e) =>
            new("length_mismatch", $"The recording ended at {read} of its {expected?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"} bytes ({e.Message}).");

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int n)
        {
            read += n;
            if (read > cap) throw new RecordingRefusedException("too_large", $"The recording exceeds Recall:MaxRecordingBytes ({cap}).");
            if (n == 0) CheckComplete();
            return n;
        }

        private void CheckComplete()
        {
            if (expected is { } e && read != e)
                throw new RecordingRefusedException("length_mismatch", $"The recording ended at {read} of its {e} bytes.");
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
