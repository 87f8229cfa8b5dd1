using System.Net;
using System.Net.Sockets;
using System.Text;
using Occystrap.Abstractions;
using Occystrap.Registry;

namespace Occystrap.UnitTests;

/// <summary>
/// A registry whose manifest, config or token bodies stall: each is asked for again within the retry
/// budget, and fails with one line once the budget is spent. The registry is a loopback socket that
/// answers the first requests of a kind with headers and half a body, then nothing.
/// </summary>
public sealed class BodyStallTests : IDisposable
{
    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes(
        """{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}""");

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Dictionary<string, int> _stallsLeft = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _requests = new(StringComparer.Ordinal);
    private readonly bool _token;

    public BodyStallTests() : this(token: false) { }

    private BodyStallTests(bool token)
    {
        _token = token;
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Dispose() => _listener.Stop();

    private async Task AcceptAsync()
    {
        while (true)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII);
        while (await reader.ReadLineAsync() is { Length: > 0 } requestLine)
        {
            bool auth = false;
            string? line;
            while ((line = await reader.ReadLineAsync()) is { Length: > 0 })
                if (line.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase)) auth = true;
            string path = requestLine.Split(' ')[1];
            string kind = path.StartsWith("/token", StringComparison.Ordinal) ? "token" : path.Contains("/manifests/") ? "manifest" : path.Contains("/blobs/") ? "blob" : "other";
            byte[] body;
            string extra = "";
            int status = 200;
            if (kind == "token") body = """{"token":"t"}"""u8.ToArray();
            else if (_token && !auth)
            {
                status = 401;
                extra = $"WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{Port}/token\",service=\"s\"\r\n";
                body = [];
            }
            else body = kind == "manifest" ? Manifest : kind == "blob" ? "{}"u8.ToArray() : [];
            bool stall;
            lock (_stallsLeft)
            {
                _requests[kind] = _requests.GetValueOrDefault(kind) + 1;
                int left = _stallsLeft.GetValueOrDefault(kind);
                stall = status == 200 && left > 0;
                if (stall) _stallsLeft[kind] = left - 1;
            }
            string type = kind == "manifest" ? "application/vnd.oci.image.manifest.v1+json" : "application/json";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 {status} X\r\nContent-Type: {type}\r\nContent-Length: {body.Length}\r\n{extra}\r\n"));
            if (stall)
            {
                await stream.WriteAsync(body.AsMemory(0, body.Length / 2));
                await Task.Delay(TimeSpan.FromSeconds(30));
                return;
            }
            await stream.WriteAsync(body);
        }
    }

    private RegistryClient Client() => new($"127.0.0.1:{Port}", new RegistryClientOptions
    {
        Insecure = true,
        Timeout = TimeSpan.FromMilliseconds(700),
        FirstBackoff = TimeSpan.FromMilliseconds(10),
        Attempts = 3,
    });

    [Fact]
    public async Task A_manifest_and_a_config_that_stall_are_fetched_again()
    {
        lock (_stallsLeft)
        {
            _stallsLeft["manifest"] = 2;
            _stallsLeft["blob"] = 2;
        }
        using var client = Client();
        var (body, _, _) = await client.GetManifestAsync("a/b", "latest", default);
        body.Should().Equal(Manifest);
        var config = await client.GetBlobAsync("a/b", Digest.Compute("{}"u8), 1024, default);
        config.Should().Equal("{}"u8.ToArray());
        _requests["manifest"].Should().Be(3);
        _requests["blob"].Should().Be(3);
        client.Retries.Should().Be(4);
    }

    [Fact]
    public async Task A_body_that_keeps_stalling_fails_with_one_line_once_the_budget_is_spent()
    {
        lock (_stallsLeft) _stallsLeft["manifest"] = 10;
        using var client = Client();
        var act = () => client.GetManifestAsync("a/b", "latest", default);
        (await act.Should().ThrowAsync<RegistryException>()).Which.Message.Should().Contain("sent no data").And.Contain("after 3 attempts");
        _requests["manifest"].Should().Be(3);
    }

    [Fact]
    public async Task A_token_answer_that_stalls_is_asked_for_again()
    {
        using var server = new BodyStallTests(token: true);
        lock (server._stallsLeft) server._stallsLeft["token"] = 1;
        using var client = server.Client();
        var (body, _, _) = await client.GetManifestAsync("a/b", "latest", default);
        body.Should().Equal(Manifest);
        server._requests["token"].Should().Be(2);
    }
}
