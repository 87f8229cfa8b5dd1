using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;

namespace Occystrap.Registry;

public sealed class RegistryClientOptions
{
    /// <summary>Plain HTTP instead of HTTPS.</summary>
    public bool Insecure { get; init; }

    /// <summary>Looked up only when the registry asks for credentials.</summary>
    public Lazy<Credential?> Credential { get; init; } = new(() => null);

    /// <summary>Attempts for a request that fails with a connection error, a timeout, 429 or 5xx.</summary>
    public int Attempts { get; init; } = 5;

    /// <summary>The first retry waits this long; each next one twice as long (a Retry-After header wins).</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long to wait for response headers, and for the next bytes of a body.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    public int MaxConnections { get; init; } = 16;

    public ILogger Logger { get; init; } = NullLogger.Instance;
}

/// <summary>
/// The Docker Registry HTTP API v2 for one registry host: anonymous, Basic and Bearer token auth
/// (tokens reused per scope until they expire), retries with backoff on connection errors, timeouts,
/// 429 and 5xx (honouring Retry-After), redirects followed without sending credentials to another host,
/// downloads that resume with Range, and streaming uploads. Secrets never reach a log or an error.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    public static readonly string ManifestAccept = string.Join(", ",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json");

    private const int ManifestLimit = 4 * 1024 * 1024;
    private const int TokenLimit = 1024 * 1024;
    private const int ErrorBodyLimit = 64 * 1024;
    private readonly HttpClient _http;
    private readonly RegistryClientOptions _options;
    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private AuthChallenge? _bearer;
    private bool _basic;

    public RegistryClient(string host, RegistryClientOptions options)
    {
        Host = host;
        _options = options;
        BaseUri = new Uri($"{(options.Insecure ? "http" : "https")}://{host}/");
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = options.MaxConnections,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        _http = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("occystrap-dotnet/0.1");
    }

    public string Host { get; }
    public Uri BaseUri { get; }

    /// <summary>How many requests were retried (for summaries and tests).</summary>
    public int Retries => _retries;

    private int _retries;
    private readonly ConcurrentDictionary<string, string> _warned = new(StringComparer.Ordinal);

    public static string PullScope(string repository) => $"repository:{repository}:pull";

    public static string PushScope(string repository) => $"repository:{repository}:pull,push";

    /// <summary>GET a manifest or index by tag or digest; checks its digest. Returns the bytes, media type and digest.</summary>
    public Task<(byte[] Body, string MediaType, Digest Digest)> GetManifestAsync(string repository, string reference, CancellationToken ct) =>
        WithBodyRetriesAsync($"manifest {repository}:{reference}", () => GetManifestOnceAsync(repository, reference, ct), ct);

    private async Task<(byte[] Body, string MediaType, Digest Digest)> GetManifestOnceAsync(string repository, string reference, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var r = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{repository}/manifests/{reference}"));
            r.Headers.Accept.ParseAdd(ManifestAccept);
            return r;
        }, [PullScope(repository)], $"manifest {repository}:{reference}", ct).ConfigureAwait(false);
        await EnsureAsync(response, $"manifest {reference} of {repository}", ct).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength > ManifestLimit)
            throw new RegistryException($"{Host}: manifest {reference} of {repository} is larger than {ManifestLimit} bytes");
        byte[] body = await ReadLimitedAsync(response, ManifestLimit, ct).ConfigureAwait(false);
        // The manifest is named by its sha256; a digest reference or header in another algorithm (sha512) is checked in that one.
        var digest = Digest.Compute(body);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.First(), out var header))
            header.Verify(body, $"{Host}: manifest {reference} of {repository}");
        if (Digest.TryParse(reference, out var wanted))
        {
            wanted.Verify(body, $"{Host}: manifest {reference} of {repository}");
            digest = wanted;
        }

        string what = $"{Host}: manifest {reference} of {repository}";
        string? mediaType = Formats.Images.JsonText.Parse(body, what) is JsonObject o ? Formats.Images.JsonText.String(o, "mediaType", what) : null;
        mediaType ??= response.Content.Headers.ContentType?.MediaType ?? "";
        return (body, mediaType, digest);
    }

    /// <summary>
    /// The repository's tags, all pages of them (<c>Link: &lt;...&gt;; rel="next"</c>), in the registry's order.
    /// Bounded: 4 MiB a page, 100 pages, and a next link must stay on this registry.
    /// </summary>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken ct)
    {
        var tags = new List<string>();
        Uri? next = Url($"v2/{repository}/tags/list?n=1000");
        string what = $"{Host}: tags of {repository}";
        for (int page = 0; next is not null; page++)
        {
            if (page == 100) throw new RegistryException($"{what}: more than 100 pages");
            var url = next;
            var body = await WithBodyRetriesAsync($"tags {repository}", async () =>
            {
                using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, url), [PullScope(repository)], $"tags {repository}", ct).ConfigureAwait(false);
                await EnsureAsync(response, $"tags of {repository}", ct).ConfigureAwait(false);
                next = NextPage(response, url);
                return await ReadLimitedAsync(response, ManifestLimit, ct).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
            var doc = Formats.Images.JsonText.Parse(body, what) as JsonObject ?? throw new RegistryException($"{what}: the answer is not a JSON object");
            if (doc["tags"] is JsonArray list)
                foreach (var t in list)
                    tags.Add(t?.GetValueKind() == System.Text.Json.JsonValueKind.String ? t.GetValue<string>() : throw new RegistryException($"{what}: a tag that is not a string"));
        }
        return tags;
    }

    private Uri? NextPage(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (string link in links)
        {
            int open = link.IndexOf('<'), close = link.IndexOf('>');
            if (open < 0 || close < open || !link[close..].Contains("rel=\"next\"", StringComparison.Ordinal)) continue;
            var target = new Uri(current, link[(open + 1)..close]);
            // A next page elsewhere would take the credentials along: refused.
            if (target.Authority != BaseUri.Authority || target.Scheme != BaseUri.Scheme)
                throw new RegistryException($"{Host}: the tag list's next page is on another host ({target.Authority})");
            return target;
        }
        return null;
    }

    public async Task<bool> BlobExistsAsync(string repository, Digest digest, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, Url($"v2/{repository}/blobs/{digest}")),
            [PullScope(repository)], $"blob {digest.Short}", ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        await EnsureAsync(response, $"blob {digest} of {repository}", ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Reads a small blob (a config) whole and checks its digest.</summary>
    public Task<byte[]> GetBlobAsync(string repository, Digest digest, int limit, CancellationToken ct) =>
        GetBlobAsync(repository, digest, limit, verify: true, ct);

    /// <param name="verify">False only for check, which compares the bytes with their descriptor itself and reports what disagrees.</param>
    public Task<byte[]> GetBlobAsync(string repository, Digest digest, int limit, bool verify, CancellationToken ct) =>
        WithBodyRetriesAsync($"blob {digest.Short}", () => GetBlobOnceAsync(repository, digest, limit, verify, ct), ct);

    private async Task<byte[]> GetBlobOnceAsync(string repository, Digest digest, int limit, bool verify, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, Url($"v2/{repository}/blobs/{digest}")),
            [PullScope(repository)], $"blob {digest.Short}", ct).ConfigureAwait(false);
        await EnsureAsync(response, $"blob {digest} of {repository}", ct).ConfigureAwait(false);
        byte[] body = await ReadLimitedAsync(response, limit, ct).ConfigureAwait(false);
        if (verify) digest.Verify(body, $"{Host}: blob {digest} of {repository}");
        return body;
    }

    /// <summary>Opens a blob for streaming; a broken transfer resumes from where it stopped.</summary>
    public Task<Stream> OpenBlobAsync(string repository, Digest digest, long? size, CancellationToken ct) =>
        ResumableBlobStream.OpenAsync(this, repository, digest, size, ct);

    internal async Task<HttpResponseMessage> GetBlobRangeAsync(string repository, Digest digest, long offset, CancellationToken ct)
    {
        var response = await SendAsync(() =>
        {
            var r = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{repository}/blobs/{digest}"));
            if (offset > 0) r.Headers.Range = new RangeHeaderValue(offset, null);
            return r;
        }, [PullScope(repository)], $"blob {digest.Short}", ct).ConfigureAwait(false);
        await EnsureAsync(response, $"blob {digest} of {repository}", ct).ConfigureAwait(false);
        return response;
    }

    /// <summary>Asks the registry to link a blob from another repository; true when it did (201).</summary>
    public async Task<bool> MountBlobAsync(string repository, Digest digest, string from, CancellationToken ct)
    {
        using var response = await SendAsync(
            () => new HttpRequestMessage(HttpMethod.Post, Url($"v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(from)}")),
            [PushScope(repository), PullScope(from)], $"mount of {digest.Short}", ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created) return true;
        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
        {
            // Not mounted: the registry opened an upload session instead; close it.
            using var cancel = await SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, Resolve(location)), [PushScope(repository)], "upload cancel", ct).ConfigureAwait(false);
            return false;
        }
        await EnsureAsync(response, $"mount of blob {digest} into {repository}", ct).ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// Uploads a blob: monolithically when the digest and length are known before, else as one streamed
    /// PATCH followed by the PUT with the digest that the bytes hashed to. <paramref name="write"/> writes
    /// the bytes and is called once; the upload cannot be replayed, so only the requests around it retry.
    /// </summary>
    public Task<(Digest Digest, long Size)> UploadBlobAsync(string repository, Func<Stream, CancellationToken, Task> write, Digest? knownDigest, long? knownLength, CancellationToken ct) =>
        UploadBlobAsync(repository, write, knownDigest, knownLength, verifiedBySource: false, ct);

    /// <summary>
    /// As <see cref="UploadBlobAsync(string, Func{Stream, CancellationToken, Task}, Digest?, long?, CancellationToken)"/>;
    /// with <paramref name="verifiedBySource"/>, what <paramref name="write"/> copies comes from a stream that throws at
    /// its end unless it hashed to <paramref name="knownDigest"/> (as layer streams do), so it is not hashed twice.
    /// </summary>
    public async Task<(Digest Digest, long Size)> UploadBlobAsync(string repository, Func<Stream, CancellationToken, Task> write, Digest? knownDigest, long? knownLength, bool verifiedBySource, CancellationToken ct)
    {
        string[] scope = [PushScope(repository)];
        Uri location;
        using (var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, Url($"v2/{repository}/blobs/uploads/")), scope, "upload start", ct).ConfigureAwait(false))
        {
            await EnsureAsync(start, $"upload to {repository}", ct).ConfigureAwait(false);
            location = Resolve(start.Headers.Location ?? throw new RegistryException($"{Host}: upload to {repository} started without a Location"));
        }

        if (knownDigest is { } d && knownLength is { } length)
        {
            var content = new StreamingContent(write, length, verifiedBySource ? d : null);
            using var put = await SendOnceAsync(new HttpRequestMessage(HttpMethod.Put, WithDigest(location, d)) { Content = content }, scope, ct).ConfigureAwait(false);
            await EnsureAsync(put, $"upload of blob {d} to {repository}", ct).ConfigureAwait(false);
            if (content.Digest != d) throw new DigestMismatchException($"blob uploaded to {repository}", d.ToString(), content.Digest.ToString());
            return (d, length);
        }

        var streamed = new StreamingContent(write, null);
        using (var patch = await SendOnceAsync(new HttpRequestMessage(HttpMethod.Patch, location) { Content = streamed }, scope, ct).ConfigureAwait(false))
        {
            await EnsureAsync(patch, $"upload to {repository}", ct).ConfigureAwait(false);
            location = Resolve(patch.Headers.Location ?? location);
        }
        var digest = streamed.Digest;
        using var done = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, WithDigest(location, digest)) { Content = new ByteArrayContent([]) },
            scope, "upload finish", ct).ConfigureAwait(false);
        await EnsureAsync(done, $"upload of blob {digest} to {repository}", ct).ConfigureAwait(false);
        return (digest, streamed.Length);
    }

    public async Task<Digest> PutManifestAsync(string repository, string reference, byte[] body, string mediaType, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return new HttpRequestMessage(HttpMethod.Put, Url($"v2/{repository}/manifests/{reference}")) { Content = content };
        }, [PushScope(repository)], $"manifest {repository}:{reference}", ct).ConfigureAwait(false);
        await EnsureAsync(response, $"manifest {reference} of {repository}", ct).ConfigureAwait(false);
        return Digest.Compute(body);
    }

    private Uri Url(string path) => new(BaseUri, path);

    private Uri Resolve(Uri location) => location.IsAbsoluteUri ? location : new Uri(BaseUri, location);

    private static Uri WithDigest(Uri location, Digest digest)
    {
        string s = location.ToString();
        return new Uri(s + (s.Contains('?') ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest.ToString()));
    }

    /// <summary>Sends a request built anew for each attempt: auth challenges answered, redirects followed, transient failures retried.</summary>
    internal async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> factory, string[] scopes, string what, CancellationToken ct)
    {
        bool authenticated = false;
        for (int attempt = 1; ; attempt++)
        {
            HttpResponseMessage? response = null;
            TimeSpan? wait = null;
            string failure;
            int budget = _options.Attempts;
            try
            {
                var request = factory();
                response = await SendFollowingRedirectsAsync(request, scopes, ct).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    if (authenticated) throw Refused(response, what);
                    authenticated = true;
                    await AnswerChallengeAsync(response, scopes, what, ct).ConfigureAwait(false);
                    response.Dispose();
                    attempt--;
                    continue;
                }
                if (!IsTransient(response.StatusCode)) return response;
                failure = $"{(int)response.StatusCode} {response.ReasonPhrase}";
                wait = RetryAfter(response);
                if (attempt >= _options.Attempts) return response;
                response.Dispose();
            }
            catch (RegistryException e) when (e.Retryable && !ct.IsCancellationRequested)
            {
                // A token service's answer that stalled or broke off.
                response?.Dispose();
                failure = e.Message;
                if (attempt >= _options.Attempts) throw new RegistryException($"{e.Message} (after {attempt} attempts)", inner: e);
            }
            catch (Exception e) when (IsTransient(e, ct))
            {
                response?.Dispose();
                failure = e.GetType() == typeof(TaskCanceledException) ? "timed out" : e.Message;
                // A name that does not exist will not exist a moment later: no retry (a resolver that failed
                // for now, TryAgain, is retried as usual). A refused connection gets a short budget (3 attempts,
                // 1.5 s of waiting): a registry that is starting may take a moment, one that is not there never comes.
                if (Socket(e) is SocketError.HostNotFound or SocketError.NoData)
                    throw new RegistryException($"{Host}: no such host: the name does not resolve", inner: e);
                if (Socket(e) == SocketError.ConnectionRefused) budget = Math.Min(3, _options.Attempts);
                if (attempt >= budget)
                    throw new RegistryException($"{Host}: {what}: {failure} (after {attempt} attempts)", inner: e);
            }
            await BackOffAsync(what, failure, wait, attempt, ct, budget).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs a request whose body is read whole (a manifest, a config) again when the body stalls or
    /// breaks off, within the same retry budget as <see cref="SendAsync"/>.
    /// </summary>
    private async Task<T> WithBodyRetriesAsync<T>(string what, Func<Task<T>> fetch, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await fetch().ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Retryable && !ct.IsCancellationRequested)
            {
                if (attempt >= _options.Attempts) throw new RegistryException($"{e.Message} (after {attempt} attempts)", inner: e);
                await BackOffAsync(what, e.Message, null, attempt, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task BackOffAsync(string what, string failure, TimeSpan? wait, int attempt, CancellationToken ct, int? budget = null)
    {
        var delay = wait ?? TimeSpan.FromTicks(_options.FirstBackoff.Ticks * (1L << Math.Min(attempt - 1, 6)));
        Interlocked.Increment(ref _retries);
        Retrying(what, failure, $"retrying in {delay.TotalSeconds:0.0}s (attempt {attempt + 1} of {budget ?? _options.Attempts})");
        await Task.Delay(delay, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Says that a request is tried again. The same failure on this host is a warning for the first request
    /// it hit (each of that request's attempts), not again for every other layer that meets it: those are
    /// debug lines.
    /// </summary>
    internal void Retrying(string what, string failure, string next)
    {
        // Failures that differ only in numbers (bytes left, ports) are the same failure.
        var key = new StringBuilder(failure.Length);
        foreach (char c in failure)
            if (!char.IsAsciiDigit(c)) key.Append(c);
            else if (key.Length == 0 || key[^1] != '#') key.Append('#');
        var level = _warned.GetOrAdd(key.ToString(), what) == what ? LogLevel.Warning : LogLevel.Debug;
        _options.Logger.Log(level, "{Host}: {What}: {Failure}; {Next}", Host, what, failure, next);
    }

    /// <summary>Sends a request whose body cannot be replayed: auth is settled first with a bodiless probe if needed.</summary>
    private async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, string[] scopes, CancellationToken ct)
    {
        try
        {
            var response = await SendFollowingRedirectsAsync(request, scopes, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                throw new RegistryException($"{Host}: the upload was refused: not authorised to push to this repository", HttpStatusCode.Unauthorized);
            return response;
        }
        catch (Exception e) when (IsTransient(e, ct))
        {
            // The body is produced while it is sent: a failure of the producer (a digest mismatch in the
            // source, say) arrives wrapped; it is the real error.
            for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
                if (inner is OccystrapException || (inner is OperationCanceledException && ct.IsCancellationRequested))
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
            throw new RegistryException($"{Host}: upload failed: {e.Message}{(e.InnerException is { } i ? " (" + i.Message + ")" : "")}", inner: e);
        }
    }

    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(HttpRequestMessage request, string[] scopes, CancellationToken ct)
    {
        var uri = request.RequestUri!;
        for (int hops = 0; ; hops++)
        {
            bool sameHost = uri.Authority.Equals(BaseUri.Authority, StringComparison.OrdinalIgnoreCase);
            if (sameHost) await AuthorizeAsync(request, scopes, ct).ConfigureAwait(false);
            else request.Headers.Authorization = null;
            _options.Logger.LogDebug("{Method} {Url}", request.Method, Redact(uri));
            // The timeout bounds waiting for an answer; a streamed upload body may take as long as it takes
            // (its source has its own stall detection), so it is not bounded here.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (request.Content is not StreamingContent) timeout.CancelAfter(_options.Timeout);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"no response within {_options.Timeout.TotalSeconds:0}s", e);
            }
            catch (HttpRequestException e) when (TlsFailure(e) is { } tls)
            {
                // A certificate that is not trusted is a TLS server all the same; anything else may be plain HTTP.
                if (!tls.Contains("certificate", StringComparison.OrdinalIgnoreCase) && await AnswersPlainHttpAsync(ct).ConfigureAwait(false))
                    throw new RegistryException($"{Host} answers plain HTTP, not HTTPS: use --insecure (or insecure=true on this URI) to talk to it over HTTP", inner: e);
                throw new RegistryException($"{Host}: TLS failed: {tls}. Trust the registry's CA (SSL_CERT_FILE or SSL_CERT_DIR), "
                    + "or use --insecure (insecure=true) if it serves plain HTTP", inner: e);
            }
            _options.Logger.LogDebug("{Status} for {Method} {Url}", (int)response.StatusCode, request.Method, Redact(uri));
            int status = (int)response.StatusCode;
            if (status is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location && hops < 10
                && (request.Method == HttpMethod.Get || request.Method == HttpMethod.Head))
            {
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                var next = new HttpRequestMessage(request.Method, uri);
                foreach (var h in request.Headers)
                    if (!h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase)) next.Headers.TryAddWithoutValidation(h.Key, h.Value);
                response.Dispose();
                request = next;
                continue;
            }
            return response;
        }
    }

    private async Task AuthorizeAsync(HttpRequestMessage request, string[] scopes, CancellationToken ct)
    {
        if (_bearer is not null)
        {
            string token = await TokenAsync(scopes, force: false, ct).ConfigureAwait(false);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        else if (_basic && _options.Credential.Value is { } c)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.Username}:{c.Password}")));
        }
    }

    private async Task AnswerChallengeAsync(HttpResponseMessage response, string[] scopes, string what, CancellationToken ct)
    {
        // Only the registry the user named may ask for credentials: a host a redirect led to gets none, and
        // its challenge is not followed (its token realm would receive the user's password).
        if (response.RequestMessage?.RequestUri is { } asked && !asked.Authority.Equals(BaseUri.Authority, StringComparison.OrdinalIgnoreCase))
            throw new RegistryException($"{Host}: {what}: a redirect led to {asked.Authority}, which asks for credentials; they are sent only to {Host}", HttpStatusCode.Unauthorized);
        var challenges = response.Headers.WwwAuthenticate.Select(h => AuthChallenge.Parse(h.ToString())).OfType<AuthChallenge>().ToList();
        var bearer = challenges.FirstOrDefault(c => c.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase));
        if (bearer?["realm"] is not null)
        {
            _bearer = bearer;
            await TokenAsync(scopes, force: true, ct).ConfigureAwait(false);
            return;
        }
        if (challenges.Any(c => c.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)))
        {
            if (_options.Credential.Value is null)
                throw new RegistryException($"{Host}: {what} needs credentials (--username/--password, OCCYSTRAP_USERNAME/OCCYSTRAP_PASSWORD or a docker login)", HttpStatusCode.Unauthorized);
            // Refused only if this very request carried them: another request may have learnt of Basic meanwhile.
            if (response.RequestMessage?.Headers.Authorization?.Scheme == "Basic")
                throw new RegistryException($"{Host}: {what}: the username or password was refused", HttpStatusCode.Unauthorized);
            _basic = true;
            return;
        }
        throw new RegistryException($"{Host}: {what}: unauthorised, and the registry named no way to authenticate", HttpStatusCode.Unauthorized);
    }

    /// <summary>A 401 to a request that carried credentials.</summary>
    private RegistryException Refused(HttpResponseMessage response, string what)
    {
        string? scheme = response.RequestMessage?.Headers.Authorization?.Scheme;
        response.Dispose();
        return scheme switch
        {
            "Basic" => new RegistryException($"{Host}: {what}: the username or password was refused", HttpStatusCode.Unauthorized),
            "Bearer" => new RegistryException($"{Host}: {what}: not authorised: the token service did not grant this access"
                + (_options.Credential.Value is null ? " to anonymous users; give credentials" : " to this user"), HttpStatusCode.Unauthorized),
            _ => new RegistryException($"{Host}: {what}: not authorised", HttpStatusCode.Unauthorized),
        };
    }

    /// <summary>A Bearer token for the scopes, reused until shortly before it expires.</summary>
    private async Task<string> TokenAsync(string[] scopes, bool force, CancellationToken ct)
    {
        string key = string.Join(' ', scopes.Order(StringComparer.Ordinal));
        if (!force && _tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow) return cached.Token;
        await _tokenLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!force && _tokens.TryGetValue(key, out cached) && cached.Expires > DateTimeOffset.UtcNow) return cached.Token;
            var challenge = _bearer!;
            var query = new StringBuilder();
            if (challenge["service"] is { } service) query.Append("service=").Append(Uri.EscapeDataString(service));
            foreach (string scope in scopes) query.Append(query.Length > 0 ? "&" : "").Append("scope=").Append(Uri.EscapeDataString(scope));
            string realm = challenge["realm"]!;
            if (!Uri.TryCreate(realm + (realm.Contains('?') ? "&" : "?") + query, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
                throw new RegistryException($"{Host}: the registry names a token realm that is not an http(s) URL: '{realm}'");
            var request = new HttpRequestMessage(HttpMethod.Get, uri);
            // Credentials never go over plain HTTP unless the user chose plain HTTP for this registry.
            if (_options.Credential.Value is not null && uri.Scheme == "http" && BaseUri.Scheme == "https")
                throw new RegistryException($"{Host}: the registry's token realm {uri.GetLeftPart(UriPartial.Authority)} is plain HTTP; "
                    + "refusing to send credentials over it (use --insecure only if this registry is meant to be plain HTTP)");
            if (_options.Credential.Value is { } c)
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.Username}:{c.Password}")));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.Timeout);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new RegistryException(_options.Credential.Value is null
                    ? $"{Host}: the token service refused anonymous access; give credentials"
                    : $"{Host}: the token service refused the username or password", response.StatusCode);
            if (!response.IsSuccessStatusCode)
                throw new RegistryException($"{Host}: the token service answered {(int)response.StatusCode} {response.ReasonPhrase}", response.StatusCode);
            byte[] body = await ReadLimitedAsync(response, TokenLimit, timeout.Token).ConfigureAwait(false);
            string? token;
            int expiresIn;
            try
            {
                var json = JsonNode.Parse(body) as JsonObject;
                token = (json?["token"] ?? json?["access_token"]) is JsonValue t && t.TryGetValue(out string? text) ? text : null;
                expiresIn = json?["expires_in"] is JsonValue e && e.TryGetValue(out int seconds) ? seconds : 60;
            }
            catch (System.Text.Json.JsonException)
            {
                throw new RegistryException($"{Host}: the token service answered with something that is not JSON");
            }
            if (string.IsNullOrEmpty(token)) throw new RegistryException($"{Host}: the token service answered without a token");
            _tokens[key] = (token, DateTimeOffset.UtcNow.AddSeconds(Math.Max(10, expiresIn - 10)));
            return token;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    /// <summary>The TLS reason (untrusted certificate, plain HTTP answering a TLS handshake) behind a failed request.</summary>
    private static string? TlsFailure(Exception e)
    {
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
            if (inner is System.Security.Authentication.AuthenticationException auth)
                return auth.InnerException is { } cause ? $"{auth.Message} ({cause.Message})" : auth.Message;
        return null;
    }

    /// <summary>The socket error under an exception, if any.</summary>
    private static SocketError? Socket(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is SocketException s) return s.SocketErrorCode;
        return null;
    }

    /// <summary>
    /// Whether the host answers plain HTTP on the port where TLS failed: a request line sent in the clear comes back
    /// as an HTTP status line. One short look, only after TLS has already failed.
    /// </summary>
    private async Task<bool> AnswersPlainHttpAsync(CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            using var client = new TcpClient();
            await client.ConnectAsync(BaseUri.Host, BaseUri.Port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"HEAD /v2/ HTTP/1.0\r\nHost: {BaseUri.Authority}\r\n\r\n"), timeout.Token).ConfigureAwait(false);
            // The status line is enough. A TLS server may answer a request in the clear with "400 Bad Request"
            // (Go's does, adding that the client spoke HTTP to an HTTPS server): that is not plain HTTP.
            var head = new byte[256];
            int n = 0;
            while (n < head.Length && Array.IndexOf(head, (byte)'\n', 0, n) < 0)
            {
                int read = await stream.ReadAsync(head.AsMemory(n), timeout.Token).ConfigureAwait(false);
                if (read == 0) break;
                n += read;
            }
            string line = System.Text.Encoding.ASCII.GetString(head, 0, n);
            return line.StartsWith("HTTP/", StringComparison.Ordinal) && line.Split(' ') is [_, { } status, ..] && status != "400";
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout || ((int)status >= 500 && status != HttpStatusCode.NotImplemented);

    internal static bool IsTransient(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && e is HttpRequestException or IOException or TimeoutException or TaskCanceledException;

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta > TimeSpan.FromMinutes(2) ? TimeSpan.FromMinutes(2) : delta;
        if (header?.Date is { } date)
        {
            var d = date - DateTimeOffset.UtcNow;
            return d < TimeSpan.Zero ? TimeSpan.Zero : d > TimeSpan.FromMinutes(2) ? TimeSpan.FromMinutes(2) : d;
        }
        return null;
    }

    private async Task EnsureAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        string detail = "";
        try
        {
            // An error body is read up to a cap, and cut there: the status decides the error, never the body.
            byte[] body = await ReadLimitedAsync(response, ErrorBodyLimit, ct, cut: true).ConfigureAwait(false);
            var errors = JsonNode.Parse(body)?["errors"]?.AsArray();
            if (errors?.FirstOrDefault() is JsonObject first)
                detail = SecretText.RedactAuthorization($": {Text(first["code"])} {Text(first["message"])}".TrimEnd());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or HttpRequestException or IOException or InvalidOperationException or RegistryException or OperationCanceledException && !ct.IsCancellationRequested)
        {
        }
        string meaning = response.StatusCode switch
        {
            HttpStatusCode.NotFound => "not found",
            HttpStatusCode.Unauthorized => "not authorised (check the credentials)",
            HttpStatusCode.Forbidden => "forbidden",
            _ => $"{(int)response.StatusCode} {response.ReasonPhrase}",
        };
        throw new RegistryException($"{Host}: {what}: {meaning}{detail}", response.StatusCode);
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    /// <summary>
    /// Reads a body whole, up to <paramref name="limit"/> bytes (beyond it: an error, or with <paramref name="cut"/> the
    /// first bytes only), failing when no byte arrives for the client's timeout.
    /// </summary>
    private async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, int limit, CancellationToken ct, bool cut = false)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        while (true)
        {
            int n;
            using (var stall = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                stall.CancelAfter(_options.Timeout);
                try
                {
                    n = await stream.ReadAsync(chunk, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    throw new RegistryException($"{Host}: a response from {response.RequestMessage?.RequestUri?.Authority} sent no data for {_options.Timeout.TotalSeconds:0}s", inner: e) { Retryable = true };
                }
                catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    throw new RegistryException($"{Host}: a response from {response.RequestMessage?.RequestUri?.Authority} broke off: {e.Message}", inner: e) { Retryable = true };
                }
            }
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
            if (buffer.Length > limit)
            {
                if (cut) return buffer.GetBuffer().AsSpan(0, limit).ToArray();
                throw new RegistryException($"{Host}: a response from {response.RequestMessage?.RequestUri?.Authority} is larger than {limit} bytes");
            }
        }
        return buffer.ToArray();
    }

    /// <summary>Upload session URLs carry state; only the path is logged.</summary>
    private static string Redact(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    public void Dispose()
    {
        _http.Dispose();
        _tokenLock.Dispose();
    }
}
