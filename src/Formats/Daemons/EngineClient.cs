using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Daemons;

/// <summary>
/// The Docker Engine API (1.41 and newer) over a unix socket, as Docker and Podman's compatible
/// service serve it: image inspect, history, save and load, streamed both ways (decision 0018).
/// </summary>
public sealed class EngineClient : IDisposable
{
    /// <summary>The oldest API this client speaks: Docker 20.10, Podman 3 and later.</summary>
    public const string MinimumApi = "1.41";

    private const int JsonLimit = 16 * 1024 * 1024;
    private readonly HttpClient _http;
    private string _prefix = "v" + MinimumApi;

    private EngineClient(string socket, TimeSpan timeout)
    {
        Socket = socket;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ResponseDrainTimeout = TimeSpan.FromSeconds(1),
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://docker/"), Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("occystrap-dotnet/0.1");
        Timeout = timeout;
    }

    public string Socket { get; }

    /// <summary>How long to wait for an answer (not for a streamed body).</summary>
    public TimeSpan Timeout { get; }

    /// <summary>What the daemon calls itself (Docker Engine, Podman Engine) and its API version.</summary>
    public string Daemon { get; private set; } = "";

    /// <summary>
    /// The socket: <paramref name="socket"/> (a URI's <c>?socket=</c>) if given, else <c>DOCKER_HOST</c> when it is
    /// <c>unix://PATH</c>, else <c>/var/run/docker.sock</c>.
    /// </summary>
    public static string ChooseSocket(string? socket)
    {
        if (!string.IsNullOrEmpty(socket)) return socket.StartsWith("unix://", StringComparison.Ordinal) ? socket["unix://".Length..] : socket;
        string? host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (!string.IsNullOrEmpty(host))
        {
            if (!host.StartsWith("unix://", StringComparison.Ordinal))
                throw new UsageException($"DOCKER_HOST is {host}; occystrap speaks to daemons over unix sockets only (unix:///path/docker.sock), or give ?socket=PATH");
            return host["unix://".Length..];
        }
        return "/var/run/docker.sock";
    }

    /// <summary>Connects and checks the daemon's API version.</summary>
    public static async Task<EngineClient> ConnectAsync(string socket, CancellationToken ct, TimeSpan? timeout = null)
    {
        switch (FileKind.Of(socket, follow: true))
        {
            case FileKindValue.Missing:
                throw new OccystrapException($"no daemon socket at {socket}: is dockerd or 'podman system service' running? (set DOCKER_HOST=unix://PATH or ?socket=PATH)");
            case FileKindValue.Socket:
                break;
            default:
                throw new OccystrapException($"{socket} is not a socket");
        }
        var client = new EngineClient(socket, timeout ?? TimeSpan.FromSeconds(120));
        try
        {
            var version = await client.GetJsonAsync("version", "the daemon's version", ct, versioned: false).ConfigureAwait(false);
            string api = JsonText.String((JsonObject)version, "ApiVersion", "the daemon's version") ?? "";
            if (!System.Version.TryParse(api, out var v) || v < System.Version.Parse(MinimumApi))
                throw new OccystrapException($"the daemon at {socket} speaks API {api}; occystrap needs {MinimumApi} or newer (Docker 20.10, Podman 3)");
            string? name = (version["Components"] as JsonArray)?.OfType<JsonObject>().Select(c => c["Name"]?.GetValue<string>()).FirstOrDefault(n => n is not null);
            client.Daemon = $"{name ?? "daemon"} (API {api})";
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary><c>GET /images/{name}/json</c>: the image's id, RootFS layers and config as the daemon knows them.</summary>
    public async Task<JsonObject> InspectImageAsync(string name, CancellationToken ct) =>
        (JsonObject)await GetJsonAsync($"images/{Uri.EscapeDataString(name)}/json", $"image {name}", ct).ConfigureAwait(false);

    /// <summary><c>GET /images/{name}/history</c>.</summary>
    public async Task<JsonArray> HistoryAsync(string name, CancellationToken ct) =>
        await GetJsonAsync($"images/{Uri.EscapeDataString(name)}/history", $"the history of {name}", ct).ConfigureAwait(false) as JsonArray
            ?? throw new OccystrapException($"{Socket}: the history of {name} is not a list");

    /// <summary><c>GET /images/{name}/get</c>: the docker-save stream, read as it comes.</summary>
    public async Task<Stream> SaveAsync(string name, CancellationToken ct)
    {
        var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"{_prefix}/images/{Uri.EscapeDataString(name)}/get"), ct).ConfigureAwait(false);
        try
        {
            await EnsureAsync(response, $"image {name}", ct).ConfigureAwait(false);
            return new OwningStream(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <c>POST /images/load</c> with <paramref name="archive"/> as its body, sent as it is produced. The daemon
    /// answers 200 and reports a failure inside its JSON stream (<c>errorDetail</c>): that is an error here too.
    /// Returns what it said it loaded.
    /// </summary>
    public async Task<IReadOnlyList<string>> LoadAsync(Stream archive, CancellationToken ct)
    {
        var content = new StreamContent(archive, 1024 * 1024);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-tar");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{_prefix}/images/load") { Content = content };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureAsync(response, "the load", ct).ConfigureAwait(false);
        var loaded = new List<string>();
        await ReadProgressAsync(response, error => $"the daemon at {Socket} refused the image: {error}", node =>
        {
            if (node["stream"]?.GetValue<string>() is { } said && said.Trim().Length > 0) loaded.Add(said.Trim());
        }, ct).ConfigureAwait(false);
        return loaded;
    }

    /// <summary>
    /// Reads a daemon's JSON progress stream (one object per line) to its end. The daemon answers 200 and
    /// reports a failure inside it (<c>errorDetail</c> or <c>error</c>): that throws, worded by <paramref name="failure"/>.
    /// </summary>
    private static async Task ReadProgressAsync(HttpResponseMessage response, Func<string, string> failure, Action<JsonNode>? each, CancellationToken ct)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Trim().Length == 0) continue;
            JsonNode? node;
            try { node = JsonNode.Parse(line); }
            catch (System.Text.Json.JsonException) { continue; }
            if (node is null) continue;
            if (node["errorDetail"]?["message"]?.GetValue<string>() is { } error || node["error"]?.GetValue<string>() is { } error2 && (error = error2) is not null)
                throw new OccystrapException(failure(error));
            each?.Invoke(node);
        }
    }

    /// <summary><c>POST /images/{name}/tag</c>: gives the image another name, <paramref name="repository"/>:<paramref name="tag"/>.</summary>
    public async Task TagAsync(string name, string repository, string tag, CancellationToken ct)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Post,
            $"{_prefix}/images/{Uri.EscapeDataString(name)}/tag?repo={Uri.EscapeDataString(repository)}&tag={Uri.EscapeDataString(tag)}"), ct).ConfigureAwait(false);
        await EnsureAsync(response, $"tagging {name} as {repository}:{tag}", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>DELETE /images/{name}</c> of a name that is one of several for its image: the name goes, the
    /// image stays. A name that is already gone is not an error.
    /// </summary>
    public async Task UntagAsync(string name, CancellationToken ct)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Delete, $"{_prefix}/images/{Uri.EscapeDataString(name)}?noprune=1"), ct).ConfigureAwait(false);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound) return;
        await EnsureAsync(response, $"removing the name {name}", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>POST /images/{name}/push?tag=</c> with the registry credential in <c>X-Registry-Auth</c>, read to the
    /// end of its progress stream; an <c>errorDetail</c> in it is an error. <paramref name="insecure"/> asks
    /// a Podman service not to verify the registry's certificate (<c>tlsVerify=false</c>; dockerd already
    /// treats 127.0.0.0/8 as insecure and ignores the parameter).
    /// </summary>
    /// <param name="progress">Called with each progress object the daemon sends, as it comes.</param>
    public async Task PushAsync(string repository, string tag, string username, string password, string serverAddress, bool insecure, CancellationToken ct, Action<JsonNode>? progress = null)
    {
        var auth = new JsonObject { ["username"] = username, ["password"] = password, ["serveraddress"] = serverAddress };
        string header = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(auth.ToJsonString())).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        using var request = new HttpRequestMessage(HttpMethod.Post,
            $"{_prefix}/images/{Uri.EscapeDataString(repository)}/push?tag={Uri.EscapeDataString(tag)}{(insecure ? "&tlsVerify=false" : "")}");
        request.Headers.TryAddWithoutValidation("X-Registry-Auth", header);
        using var response = await SendAsync(request, ct).ConfigureAwait(false);
        await EnsureAsync(response, $"the push of {repository}:{tag}", ct).ConfigureAwait(false);
        await ReadProgressAsync(response, error => $"the daemon at {Socket} failed to push {repository}:{tag}: {error}", progress, ct).ConfigureAwait(false);
    }

    private async Task<JsonNode> GetJsonAsync(string path, string what, CancellationToken ct, bool versioned = true)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, versioned ? $"{_prefix}/{path}" : path), timeout.Token).ConfigureAwait(false);
        await EnsureAsync(response, what, timeout.Token).ConfigureAwait(false);
        byte[] body = await ReadLimitedAsync(response, JsonLimit, timeout.Token).ConfigureAwait(false);
        return JsonText.Parse(body, $"{Socket}: {what}") ?? throw new OccystrapException($"{Socket}: {what} is empty");
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AccessDenied } || e.Message.Contains("Permission denied", StringComparison.Ordinal))
        {
            throw new OccystrapException($"permission denied on {Socket}: {Access()}", e);
        }
        catch (HttpRequestException e)
        {
            throw new OccystrapException($"cannot talk to the daemon at {Socket}: {e.InnerException?.Message ?? e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested || e.CancellationToken != ct)
        {
            throw new OccystrapException($"the daemon at {Socket} did not answer in {Timeout.TotalSeconds:0}s", e);
        }
    }

    /// <summary>What to do about a socket we may not open: join its group, or use sudo.</summary>
    private string Access()
    {
        string? group = FileKind.GroupOf(Socket) is { } gid && File.Exists("/etc/group")
            ? File.ReadLines("/etc/group").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[2] == gid.ToString(System.Globalization.CultureInfo.InvariantCulture))?[0]
            : null;
        return group is not null ? $"add your user to the '{group}' group (the socket's group), or run with sudo" : "run with sudo";
    }

    private async Task EnsureAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        string message = "";
        try
        {
            byte[] body = await ReadLimitedAsync(response, 64 * 1024, ct).ConfigureAwait(false);
            message = JsonNode.Parse(body)?["message"]?.GetValue<string>() ?? "";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or InvalidOperationException or OccystrapException)
        {
        }
        throw response.StatusCode switch
        {
            HttpStatusCode.NotFound => new OccystrapException($"the daemon at {Socket} has no {what}{(message.Length > 0 ? $" ({message})" : "")}"),
            _ => new OccystrapException($"the daemon at {Socket} answered {(int)response.StatusCode} for {what}{(message.Length > 0 ? $": {message}" : "")}"),
        };
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, int limit, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > limit) throw new OccystrapException($"an answer of the daemon is larger than {limit} bytes");
        }
        return buffer.ToArray();
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A response body that disposes its response with it.</summary>
    private sealed class OwningStream(Stream inner, HttpResponseMessage response) : IO.ReadOnlyStream
    {
        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
