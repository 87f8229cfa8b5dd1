using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Occystrap.Abstractions;
using Occystrap.Formats.Blobs;

namespace Occystrap.RegistryServer;

/// <summary>A blob that finished uploading and was verified against its digest.</summary>
public sealed record BlobReceived(string Repository, Digest Digest, long Size);

/// <summary>A manifest stored under a tag or digest: the exact bytes received, and their digest.</summary>
public sealed record ManifestReceived(string Repository, string Reference, Digest Digest, string MediaType, byte[] Bytes);

/// <summary>
/// A Registry V2 server in this process, on Kestrel: the push path (upload sessions, monolithic and
/// chunked), blob and manifest reads, verified as bytes stream in, with the registry's error bodies.
/// Blobs go to a content-addressed store under <see cref="RegistryServerOptions.StorageRoot"/>; manifests
/// are kept per repository. Abandoned upload sessions are purged with their files.
/// </summary>
public sealed partial class EmbeddedRegistry : IAsyncDisposable
{
    private readonly RegistryServerOptions _options;
    private readonly WebApplication _app;
    private readonly BlobStore _blobs;
    private readonly string _uploads;
    private readonly ConcurrentDictionary<string, UploadSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Repository, string Reference), ManifestReceived> _manifests = new();
    private readonly Timer _purge;
    private readonly string? _expectedAuth;
    private long _bytesReceived;
    private int _blobsStored;
    private int _blobsHeldElsewhere;

    private EmbeddedRegistry(RegistryServerOptions options, WebApplication app, X509Certificate2? certificate)
    {
        _options = options;
        _app = app;
        Certificate = certificate;
        _blobs = BlobStore.OciLayout(options.StorageRoot);
        _uploads = Path.Combine(_blobs.Root, "uploads");
        Directory.CreateDirectory(_uploads);
        if (options.Basic is { } basic)
            _expectedAuth = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{basic.UserName}:{basic.Password}"));
        var every = TimeSpan.FromTicks(Math.Clamp(options.UploadIdleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _purge = new Timer(_ => Purge(), null, every, every);
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; private set; }

    /// <summary><c>HOST:PORT</c>, as an image reference names the registry.</summary>
    public string Address => _options.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{_options.Address}]:{Port}" : $"{_options.Address}:{Port}";

    public Uri BaseUri => new($"{(_options.Https ? "https" : "http")}://{Address}/");

    /// <summary>The self-signed certificate served with <see cref="RegistryServerOptions.Https"/>; null otherwise.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>Where the blobs are: <c>PathOf(digest)</c> for a stored one.</summary>
    public BlobStore Blobs => _blobs;

    /// <summary>Blob uploads completed and verified.</summary>
    public int BlobsStored => Volatile.Read(ref _blobsStored);

    /// <summary>HEAD requests answered for a blob held elsewhere (<see cref="RegistryServerOptions.BlobsHeldElsewhere"/>).</summary>
    public int BlobsHeldElsewhereAnswered => Volatile.Read(ref _blobsHeldElsewhere);

    /// <summary>Body bytes received by blob uploads.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Upload sessions open now.</summary>
    public int OpenUploads => _sessions.Count;

    /// <summary>Raised when a blob upload completes and is verified (from a request's thread).</summary>
    public event Action<BlobReceived>? BlobStored;

    /// <summary>Raised when a manifest is stored.</summary>
    public event Action<ManifestReceived>? ManifestStored;

    public static async Task<EmbeddedRegistry> StartAsync(RegistryServerOptions options, CancellationToken ct = default)
    {
        var certificate = options.Https ? SelfSigned(options.Address) : null;
        Directory.CreateDirectory(options.StorageRoot);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = options.StorageRoot });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Blobs are as large as images make them; manifests are bounded where they are read.
            k.Limits.MaxRequestBodySize = null;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
            k.Listen(options.Address, options.Port, listen =>
            {
                if (certificate is not null) listen.UseHttps(certificate);
            });
        });
        var app = builder.Build();
        EmbeddedRegistry? registry = null;
        app.Run(context => registry!.HandleAsync(context));
        registry = new EmbeddedRegistry(options, app, certificate);
        await app.StartAsync(ct).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        registry.Port = new Uri(addresses.First()).Port;
        return registry;
    }

    /// <summary>A manifest stored under <paramref name="reference"/> (a tag or a digest), or null.</summary>
    public ManifestReceived? FindManifest(string repository, string reference) =>
        _manifests.TryGetValue((repository, reference), out var m) ? m : null;

    private async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        try
        {
            if (_expectedAuth is not null && !Authorized(context.Request.Headers.Authorization.ToString()))
            {
                response.Headers.WWWAuthenticate = "Basic realm=\"occystrap\"";
                await ErrorAsync(context, 401, "UNAUTHORIZED", "authentication required").ConfigureAwait(false);
                return;
            }
            string path = context.Request.Path.Value ?? "";
            string method = context.Request.Method;
            if (path is "/v2" or "/v2/")
            {
                response.ContentType = "application/json";
                await response.WriteAsync("{}").ConfigureAwait(false);
                return;
            }
            Match m;
            if ((m = UploadPath().Match(path)).Success) await UploadAsync(context, m.Groups["name"].Value, m.Groups["id"].Value, method).ConfigureAwait(false);
            else if ((m = BlobPath().Match(path)).Success) await BlobAsync(context, m.Groups["name"].Value, m.Groups["ref"].Value, method).ConfigureAwait(false);
            else if ((m = ManifestPath().Match(path)).Success) await ManifestAsync(context, m.Groups["name"].Value, m.Groups["ref"].Value, method).ConfigureAwait(false);
            else if ((m = TagsPath().Match(path)).Success && method is "GET") await TagsAsync(context, m.Groups["name"].Value).ConfigureAwait(false);
            else await ErrorAsync(context, 404, "NOT_FOUND", "no such endpoint").ConfigureAwait(false);
        }
        catch (BadRequest e)
        {
            if (!response.HasStarted) await ErrorAsync(context, e.Status, e.Code, e.Message).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-request; its session (if any) is purged later.
            context.Abort();
        }
        finally
        {
            _options.RequestLog?.Invoke($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString} {response.StatusCode}");
        }
    }

    private bool Authorized(string header)
    {
        byte[] given = Encoding.UTF8.GetBytes(header);
        byte[] wanted = Encoding.UTF8.GetBytes(_expectedAuth!);
        return CryptographicOperations.FixedTimeEquals(given, wanted);
    }

    // ---- uploads ----------------------------------------------------------------------------------

    private async Task UploadAsync(HttpContext context, string name, string id, string method)
    {
        CheckName(name);
        var request = context.Request;
        if (id.Length == 0)
        {
            if (method != "POST") throw new BadRequest(405, "UNSUPPORTED", $"{method} is not allowed on an upload collection");
            // A cross-repository mount is answered as a registry without the blob answers: with a new session.
            if (_sessions.Count >= _options.MaxUploadSessions)
                throw new BadRequest(429, "TOOMANYREQUESTS", $"more than {_options.MaxUploadSessions} uploads are open");
            var session = NewSession(name);
            if (request.Query["digest"].ToString() is { Length: > 0 } monolithic)
            {
                // POST with the whole blob as its body.
                await WithSessionAsync(session, async () =>
                {
                    await AppendAsync(context, session, null).ConfigureAwait(false);
                    await CompleteAsync(context, session, monolithic).ConfigureAwait(false);
                }).ConfigureAwait(false);
                return;
            }
            SessionHeaders(context.Response, session, 202);
            return;
        }
        if (!_sessions.TryGetValue(id, out var open) || open.Repository != name)
            throw new BadRequest(404, "BLOB_UPLOAD_UNKNOWN", $"upload {id} is not open");
        switch (method)
        {
            case "GET":
                SessionHeaders(context.Response, open, 204);
                return;
            case "DELETE":
                Remove(open);
                context.Response.StatusCode = 204;
                return;
            case "PATCH":
                await WithSessionAsync(open, () => AppendAsync(context, open, request.Headers.ContentRange.ToString())).ConfigureAwait(false);
                SessionHeaders(context.Response, open, 202);
                return;
            case "PUT":
                string digest = request.Query["digest"].ToString();
                if (digest.Length == 0) throw new BadRequest(400, "DIGEST_INVALID", "the final PUT of an upload needs ?digest=");
                await WithSessionAsync(open, async () =>
                {
                    await AppendAsync(context, open, request.Headers.ContentRange.ToString()).ConfigureAwait(false);
                    await CompleteAsync(context, open, digest).ConfigureAwait(false);
                }).ConfigureAwait(false);
                return;
            default:
                throw new BadRequest(405, "UNSUPPORTED", $"{method} is not allowed on an upload");
        }
    }

    private UploadSession NewSession(string name)
    {
        string id = Guid.NewGuid().ToString("N");
        var session = new UploadSession(id, name, Path.Combine(_uploads, id));
        _sessions[id] = session;
        return session;
    }

    /// <summary>One request at a time per session: chunks arrive in order or not at all.</summary>
    private static async Task WithSessionAsync(UploadSession session, Func<Task> work)
    {
        if (!await session.Gate.WaitAsync(0).ConfigureAwait(false))
            throw new BadRequest(416, "BLOB_UPLOAD_INVALID", $"upload {session.Id} is busy with another request");
        try
        {
            await work().ConfigureAwait(false);
        }
        finally
        {
            session.Touch();
            session.Gate.Release();
        }
    }

    /// <summary>Appends the request body, hashing it as it streams. A chunk must start where the upload stands.</summary>
    private async Task AppendAsync(HttpContext context, UploadSession session, string? contentRange)
    {
        if (session.Closed) throw new BadRequest(404, "BLOB_UPLOAD_UNKNOWN", $"upload {session.Id} is not open");
        if (!string.IsNullOrEmpty(contentRange))
        {
            var range = ContentRange().Match(contentRange);
            if (!range.Success) throw new BadRequest(400, "BLOB_UPLOAD_INVALID", $"Content-Range '{contentRange}' is not START-END");
            long start = long.Parse(range.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (start != session.Size)
            {
                context.Response.Headers.Range = $"0-{Math.Max(0, session.Size - 1)}";
                throw new BadRequest(416, "BLOB_UPLOAD_INVALID", $"the chunk starts at {start}, but upload {session.Id} holds {session.Size} bytes");
            }
        }
        byte[] buffer = new byte[256 * 1024];
        var body = context.Request.Body;
        int n;
        while ((n = await body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            await session.File.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted).ConfigureAwait(false);
            session.Hash.AppendData(buffer, 0, n);
            session.Size += n;
            Interlocked.Add(ref _bytesReceived, n);
        }
    }

    /// <summary>Checks the upload against its digest and moves it into the store; a mismatch removes it.</summary>
    private async Task CompleteAsync(HttpContext context, UploadSession session, string digestText)
    {
        if (!Digest.TryParse(digestText, out var wanted))
        {
            Remove(session);
            throw new BadRequest(400, "DIGEST_INVALID", $"'{digestText}' is not a digest");
        }
        await session.File.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        string sha256 = Convert.ToHexStringLower(session.Hash.GetHashAndReset());
        session.Close();
        Digest actual = wanted.Algorithm == Digest.Sha256Algorithm
            ? Digest.Parse("sha256:" + sha256)
            : await RehashAsync(session.FilePath, wanted.Algorithm).ConfigureAwait(false);
        if (actual != wanted)
        {
            Remove(session);
            throw new BadRequest(400, "DIGEST_INVALID", $"the upload hashes to {actual}, not {wanted}");
        }
        string target = _blobs.PathOf(wanted);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // Two uploads of one blob both end here with the same bytes: whichever renames last wins, harmlessly.
        File.Move(session.FilePath, target, overwrite: true);
        _sessions.TryRemove(session.Id, out _);
        Interlocked.Increment(ref _blobsStored);
        var response = context.Response;
        response.StatusCode = 201;
        response.Headers.Location = $"/v2/{session.Repository}/blobs/{wanted}";
        response.Headers["Docker-Content-Digest"] = wanted.ToString();
        response.ContentLength = 0;
        BlobStored?.Invoke(new BlobReceived(session.Repository, wanted, session.Size));
    }

    private static async Task<Digest> RehashAsync(string path, string algorithm)
    {
        using var hash = Digest.CreateHash(algorithm);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024);
        byte[] buffer = new byte[1024 * 1024];
        int n;
        while ((n = await file.ReadAsync(buffer).ConfigureAwait(false)) > 0) hash.AppendData(buffer, 0, n);
        return Digest.FromHash(hash);
    }

    private static void SessionHeaders(HttpResponse response, UploadSession session, int status)
    {
        response.StatusCode = status;
        response.Headers.Location = $"/v2/{session.Repository}/blobs/uploads/{session.Id}";
        response.Headers.Range = $"0-{Math.Max(0, session.Size - 1)}";
        response.Headers["Docker-Upload-UUID"] = session.Id;
        response.ContentLength = 0;
    }

    private void Remove(UploadSession session)
    {
        _sessions.TryRemove(session.Id, out _);
        session.Close();
        try { File.Delete(session.FilePath); }
        catch (IOException) { }
    }

    /// <summary>Removes sessions that have had no request for the idle timeout, with their files.</summary>
    private void Purge()
    {
        var now = DateTime.UtcNow;
        foreach (var session in _sessions.Values)
        {
            if (now - session.LastTouched < _options.UploadIdleTimeout) continue;
            if (!session.Gate.Wait(0)) continue; // a request is still writing to it
            try
            {
                Remove(session);
            }
            finally
            {
                session.Gate.Release();
            }
        }
    }

    // ---- blobs ------------------------------------------------------------------------------------

    private async Task BlobAsync(HttpContext context, string name, string reference, string method)
    {
        CheckName(name);
        if (!Digest.TryParse(reference, out var digest)) throw new BadRequest(400, "DIGEST_INVALID", $"'{reference}' is not a digest");
        if (method is not ("GET" or "HEAD")) throw new BadRequest(405, "UNSUPPORTED", $"{method} is not allowed on a blob");
        string path = _blobs.PathOf(digest);
        var response = context.Response;
        if (!File.Exists(path))
        {
            if (method == "HEAD" && _options.BlobsHeldElsewhere?.Invoke(digest) is { } heldSize)
            {
                Interlocked.Increment(ref _blobsHeldElsewhere);
                response.ContentType = "application/octet-stream";
                response.Headers["Docker-Content-Digest"] = digest.ToString();
                response.ContentLength = heldSize;
                return;
            }
            throw new BadRequest(404, "BLOB_UNKNOWN", $"blob {digest} is not here");
        }
        long length = new FileInfo(path).Length;
        response.ContentType = "application/octet-stream";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.AcceptRanges = "bytes";
        long start = 0, end = length - 1;
        if (method == "GET" && context.Request.Headers.Range.ToString() is { Length: > 0 } range)
        {
            var r = ByteRange().Match(range);
            if (!r.Success) throw new BadRequest(416, "RANGE_INVALID", $"Range '{range}' is not bytes=START-[END]");
            start = long.Parse(r.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (r.Groups[2].Success) end = Math.Min(end, long.Parse(r.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
            if (start >= length || end < start)
            {
                response.Headers.ContentRange = $"bytes */{length}";
                throw new BadRequest(416, "RANGE_INVALID", $"bytes {start}-{end} are outside the blob's {length}");
            }
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {start}-{end}/{length}";
        }
        response.ContentLength = end - start + 1;
        if (method == "HEAD") return;
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.SequentialScan);
        file.Position = start;
        byte[] buffer = new byte[256 * 1024];
        long left = end - start + 1;
        while (left > 0)
        {
            int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), context.RequestAborted).ConfigureAwait(false);
            if (n == 0) break;
            await response.Body.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted).ConfigureAwait(false);
            left -= n;
        }
    }

    // ---- manifests --------------------------------------------------------------------------------

    private async Task ManifestAsync(HttpContext context, string name, string reference, string method)
    {
        CheckName(name);
        bool byDigest = Digest.TryParse(reference, out var named);
        if (!byDigest && !Tag().IsMatch(reference)) throw new BadRequest(400, "TAG_INVALID", $"'{reference}' is neither a tag nor a digest");
        var response = context.Response;
        if (method is "GET" or "HEAD")
        {
            var found = FindManifest(name, reference) ?? throw new BadRequest(404, "MANIFEST_UNKNOWN", $"manifest {reference} of {name} is not here");
            response.ContentType = found.MediaType;
            response.Headers["Docker-Content-Digest"] = found.Digest.ToString();
            response.ContentLength = found.Bytes.Length;
            if (method == "GET") await response.Body.WriteAsync(found.Bytes, context.RequestAborted).ConfigureAwait(false);
            return;
        }
        if (method != "PUT") throw new BadRequest(405, "UNSUPPORTED", $"{method} is not allowed on a manifest");
        byte[] body = await ReadBoundedAsync(context.Request.Body, _options.MaxManifestBytes, context.RequestAborted).ConfigureAwait(false)
            ?? throw new BadRequest(413, "SIZE_INVALID", $"the manifest is larger than {_options.MaxManifestBytes} bytes");
        // The digest of the exact bytes received: what the client must get back.
        var digest = byDigest ? Digest.Compute(body, named.Algorithm) : Digest.Compute(body);
        if (byDigest && digest != named) throw new BadRequest(400, "DIGEST_INVALID", $"the manifest hashes to {digest}, not {named}");
        string mediaType = context.Request.ContentType is { Length: > 0 } ct ? ct.Split(';')[0].Trim() : MediaTypeOf(body);
        CheckReferences(body);
        var stored = new ManifestReceived(name, reference, digest, mediaType, body);
        _manifests[(name, digest.ToString())] = stored with { Reference = digest.ToString() };
        if (!byDigest) _manifests[(name, reference)] = stored;
        response.StatusCode = 201;
        response.Headers.Location = $"/v2/{name}/manifests/{digest}";
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.ContentLength = 0;
        ManifestStored?.Invoke(stored);
    }

    /// <summary>An image manifest may only name blobs that are here, as a registry checks.</summary>
    private void CheckReferences(byte[] body)
    {
        System.Text.Json.Nodes.JsonObject json;
        try
        {
            json = System.Text.Json.Nodes.JsonNode.Parse(body) as System.Text.Json.Nodes.JsonObject
                ?? throw new BadRequest(400, "MANIFEST_INVALID", "the manifest is not a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new BadRequest(400, "MANIFEST_INVALID", $"the manifest is not JSON: {e.Message}");
        }
        var descriptors = new List<System.Text.Json.Nodes.JsonNode?>();
        if (json["config"] is { } config) descriptors.Add(config);
        if (json["layers"] is System.Text.Json.Nodes.JsonArray layers) descriptors.AddRange(layers);
        foreach (var d in descriptors)
        {
            string? text = d?["digest"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? d["digest"]!.GetValue<string>() : null;
            if (!Digest.TryParse(text, out var digest)) throw new BadRequest(400, "MANIFEST_INVALID", "a descriptor of the manifest has no valid digest");
            if (!_blobs.Contains(digest) && _options.BlobsHeldElsewhere?.Invoke(digest) is null) throw new BadRequest(400, "MANIFEST_BLOB_UNKNOWN", $"blob {digest} named by the manifest is not here");
        }
    }

    private static string MediaTypeOf(byte[] body)
    {
        try
        {
            return System.Text.Json.Nodes.JsonNode.Parse(body)?["mediaType"]?.GetValue<string>() ?? "application/vnd.oci.image.manifest.v1+json";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            return "application/vnd.oci.image.manifest.v1+json";
        }
    }

    private async Task TagsAsync(HttpContext context, string name)
    {
        CheckName(name);
        var tags = _manifests.Keys.Where(k => k.Repository == name && !Digest.TryParse(k.Reference, out _)).Select(k => k.Reference).Order(StringComparer.Ordinal).ToList();
        if (tags.Count == 0) throw new BadRequest(404, "NAME_UNKNOWN", $"repository {name} is not here");
        context.Response.ContentType = "application/json";
        var doc = new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = name,
            ["tags"] = new System.Text.Json.Nodes.JsonArray(tags.Select(t => (System.Text.Json.Nodes.JsonNode)t).ToArray()),
        };
        await context.Response.WriteAsync(doc.ToJsonString()).ConfigureAwait(false);
    }

    /// <summary>Reads a body of at most <paramref name="limit"/> bytes; null when it is longer.</summary>
    private static async Task<byte[]?> ReadBoundedAsync(Stream body, int limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[64 * 1024];
        int n;
        while ((n = await body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limit) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private static void CheckName(string name)
    {
        if (name.Length > 255 || !Name().IsMatch(name)) throw new BadRequest(400, "NAME_INVALID", $"'{name}' is not a repository name");
    }

    private static async Task ErrorAsync(HttpContext context, int status, string code, string message)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        var body = new System.Text.Json.Nodes.JsonObject
        {
            ["errors"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["code"] = code, ["message"] = message, ["detail"] = null }),
        };
        if (context.Request.Method != "HEAD") await response.WriteAsync(body.ToJsonString()).ConfigureAwait(false);
    }

    private static X509Certificate2 SelfSigned(IPAddress address)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=occystrap embedded registry", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        names.AddDnsName("localhost");
        if (!IPAddress.IsLoopback(address) && !address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any)) names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
    }

    public async ValueTask DisposeAsync()
    {
        await _purge.DisposeAsync().ConfigureAwait(false);
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        foreach (var session in _sessions.Values) Remove(session);
        Certificate?.Dispose();
    }

    [GeneratedRegex(@"^/v2/(?<name>.+)/blobs/uploads/(?<id>[^/]*)$")]
    private static partial Regex UploadPath();

    [GeneratedRegex(@"^/v2/(?<name>.+)/blobs/(?<ref>[^/]+)$")]
    private static partial Regex BlobPath();

    [GeneratedRegex(@"^/v2/(?<name>.+)/manifests/(?<ref>[^/]+)$")]
    private static partial Regex ManifestPath();

    [GeneratedRegex(@"^/v2/(?<name>.+)/tags/list$")]
    private static partial Regex TagsPath();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex Name();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex Tag();

    [GeneratedRegex(@"^(?:bytes )?(\d+)-(\d+)$")]
    private static partial Regex ContentRange();

    [GeneratedRegex(@"^bytes=(\d+)-(\d+)?$")]
    private static partial Regex ByteRange();

    /// <summary>A request refused with a registry error code.</summary>
    private sealed class BadRequest(int status, string code, string message) : Exception(message)
    {
        public int Status => status;
        public string Code => code;
    }

    /// <summary>One blob upload in progress: its file, the hash so far, and when it was last used.</summary>
    private sealed class UploadSession
    {
        private long _lastTouched = DateTime.UtcNow.Ticks;

        public UploadSession(string id, string repository, string filePath)
        {
            Id = id;
            Repository = repository;
            FilePath = filePath;
            File = new FileStream(filePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1024 * 1024);
        }

        public string Id { get; }
        public string Repository { get; }
        public string FilePath { get; }
        public FileStream File { get; }
        public IncrementalHash Hash { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public long Size { get; set; }
        public bool Closed { get; private set; }
        public DateTime LastTouched => new(Interlocked.Read(ref _lastTouched), DateTimeKind.Utc);

        public void Touch() => Interlocked.Exchange(ref _lastTouched, DateTime.UtcNow.Ticks);

        public void Close()
        {
            if (Closed) return;
            Closed = true;
            File.Dispose();
            Hash.Dispose();
        }
    }
}
