using System.Net;

namespace Occystrap.IntegrationTests;

/// <summary>
/// A loopback HTTP proxy in front of a registry that injects faults into GET and HEAD traffic: the first
/// requests answered with an error status (500, or 429 with Retry-After), and the downloads of the
/// first blobs longer than some bytes cut off there, once each. Counts what it saw.
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _upstream;
    private readonly string _target;
    private int _failuresLeft;
    private int _resetsLeft;
    private int _requests;
    private readonly HashSet<string> _cutBlobs = new(StringComparer.Ordinal);

    /// <param name="redirectBlobsWith">When set, blob GETs are redirected to this proxy under another host name
    /// (localhost instead of 127.0.0.1), as registries redirect to blob storage; the proxy then fetches
    /// the blob upstream with these credentials itself and records whether the client sent any.</param>
    public FaultProxy(string upstream, int failFirst = 0, HttpStatusCode failStatus = HttpStatusCode.InternalServerError, int retryAfterSeconds = 0, int resetBlobs = 0, long resetAfterBytes = 0, string? redirectBlobsWith = null)
    {
        _redirectAuth = redirectBlobsWith;
        _target = upstream;
        _failuresLeft = failFirst;
        FailStatus = failStatus;
        RetryAfterSeconds = retryAfterSeconds;
        _resetsLeft = resetBlobs;
        ResetAfterBytes = resetAfterBytes;
        _upstream = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None });
        Port = RegistryServer.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Prefixes.Add($"http://localhost:{Port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    private readonly string? _redirectAuth;

    /// <summary>For each redirected blob GET: whether it carried an Authorization header.</summary>
    public List<bool> RedirectedCarriedAuth { get; } = [];

    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";
    public HttpStatusCode FailStatus { get; }
    public int RetryAfterSeconds { get; }
    public long ResetAfterBytes { get; }

    /// <summary>When set, blob downloads are slowed to about this many bytes a second.</summary>
    public long BlobBytesPerSecond { get; init; }
    public int Requests => _requests;
    public int Resets { get; private set; }
    public int Failures { get; private set; }
    public List<string> RangeRequests { get; } = [];

    /// <summary>Paths of the blob GETs seen.</summary>
    public List<string> BlobGets { get; } = [];

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        Interlocked.Increment(ref _requests);
        try
        {
            if (Interlocked.Decrement(ref _failuresLeft) >= 0)
            {
                Failures++;
                response.StatusCode = (int)FailStatus;
                if (RetryAfterSeconds > 0) response.AddHeader("Retry-After", RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
                response.Close();
                return;
            }
            string url = request.RawUrl!;
            bool redirected = url.StartsWith("/storage/", StringComparison.Ordinal);
            if (_redirectAuth is not null && !redirected && request.HttpMethod == "GET" && url.Contains("/blobs/sha256:", StringComparison.Ordinal))
            {
                response.StatusCode = 307;
                response.RedirectLocation = $"http://localhost:{Port}/storage{url}";
                response.Close();
                return;
            }
            if (redirected)
            {
                lock (RedirectedCarriedAuth) RedirectedCarriedAuth.Add(request.Headers["Authorization"] is not null);
                url = url["/storage".Length..];
            }
            var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), $"http://{_target}{url}");
            foreach (string name in new[] { "Authorization", "Accept", "Range" })
                if (request.Headers[name] is { } value) forward.Headers.TryAddWithoutValidation(name, value);
            if (redirected && _redirectAuth is not null)
                forward.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(_redirectAuth)));
            if (request.Headers["Range"] is { } range) lock (RangeRequests) RangeRequests.Add(range);
            using var upstream = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead);
            response.StatusCode = (int)upstream.StatusCode;
            foreach (var h in upstream.Headers.Concat(upstream.Content.Headers))
            {
                if (h.Key is "Content-Length" or "Transfer-Encoding" or "Connection" or "Keep-Alive") continue;
                response.Headers[h.Key] = string.Join(", ", h.Value);
            }
            bool blob = request.HttpMethod == "GET" && request.RawUrl!.Contains("/blobs/sha256:", StringComparison.Ordinal) && upstream.IsSuccessStatusCode;
            if (blob) lock (BlobGets) BlobGets.Add(request.RawUrl!);
            if (upstream.Content.Headers.ContentLength is { } length) response.ContentLength64 = length;
            if (request.HttpMethod == "HEAD")
            {
                response.Close();
                return;
            }
            await using var body = await upstream.Content.ReadAsStreamAsync();
            // Each blob is cut once at most, and only a body longer than the cut (a small config goes through whole).
            bool cut = false;
            if (blob && (upstream.Content.Headers.ContentLength ?? long.MaxValue) > ResetAfterBytes)
                lock (_cutBlobs)
                    cut = !_cutBlobs.Contains(url) && Interlocked.Decrement(ref _resetsLeft) >= 0 && _cutBlobs.Add(url);
            if (cut)
            {
                byte[] part = new byte[ResetAfterBytes];
                int got = await body.ReadAtLeastAsync(part, part.Length, throwOnEndOfStream: false);
                await response.OutputStream.WriteAsync(part.AsMemory(0, got));
                await response.OutputStream.FlushAsync();
                Resets++;
                response.Abort();
                return;
            }
            if (blob && BlobBytesPerSecond > 0)
            {
                // 20 slices a second, so that a transfer takes about size/rate seconds and moves all along.
                byte[] slice = new byte[Math.Max(1, BlobBytesPerSecond / 20)];
                int n;
                while ((n = await body.ReadAtLeastAsync(slice, slice.Length, throwOnEndOfStream: false)) > 0)
                {
                    await response.OutputStream.WriteAsync(slice.AsMemory(0, n));
                    await Task.Delay(50);
                }
            }
            else await body.CopyToAsync(response.OutputStream);
            response.Close();
        }
        catch (Exception)
        {
            try { response.Abort(); }
            catch (Exception) { }
        }
    }

    public void Dispose()
    {
        // The managed HttpListener may try to rebind its port while closing and fail if another test's
        // listener took it meanwhile; the server is stopped either way.
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (HttpListenerException)
        {
        }
        _upstream.Dispose();
    }
}
