using System.Net;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>Registries that try to take credentials where they should not go.</summary>
public sealed class HostileRegistryTests : IDisposable
{
    private const string User = RegistryServer.User;
    private const string Password = RegistryServer.Password;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Dictionary<string, string?> Env(params (string, string?)[] extra)
    {
        var env = new Dictionary<string, string?> { ["DOCKER_CONFIG"] = "/nonexistent", ["REGISTRY_AUTH_FILE"] = "/nonexistent", ["HOME"] = "/nonexistent" };
        foreach (var (k, v) in extra) env[k] = v;
        return env;
    }

    /// <summary>A registry on loopback that answers every request with a redirect to another host.</summary>
    private sealed class Redirector : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public Redirector(string target)
        {
            int port = RegistryServer.FreePort();
            Address = $"127.0.0.1:{port}";
            _listener.Prefixes.Add($"http://{Address}/");
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext context;
                    try { context = await _listener.GetContextAsync(); }
                    catch (Exception) { return; }
                    context.Response.StatusCode = 307;
                    context.Response.RedirectLocation = $"http://{target}{context.Request.RawUrl}";
                    context.Response.Close();
                }
            });
        }

        public string Address { get; }

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
        }
    }

    [Fact]
    public void Credentials_do_not_follow_a_redirect_to_another_hosts_token_realm()
    {
        using var tokens = new TokenServer(anonymousPull: false);
        using var other = RegistryServer.Start("token", token: tokens);
        using var redirector = new Redirector(other.Address);
        var r = OccyWith(Env(), "--insecure", "--username", User, "--password", Password,
            "process", $"registry://{redirector.Address}/occy/x:1", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Should().Contain($"a redirect led to {other.Address}, which asks for credentials; they are sent only to {redirector.Address}");
        tokens.WithCredentials.Should().Be(0, "the other host's token realm never saw the password");
        r.Stderr.Should().NotContain(Password);
        File.Exists(_dir["x.tar"]).Should().BeFalse();
    }

    [Fact]
    public void Credentials_are_not_sent_to_a_plain_http_token_realm_of_an_https_registry()
    {
        using var tokens = new TokenServer(anonymousPull: true);
        using var server = RegistryServer.Start("token", tls: true, token: tokens);
        var env = Env(("SSL_CERT_FILE", server.CaFile));
        var r = OccyWith(env, "--username", User, "--password", Password, "process", $"tar://{SampleImage}", $"registry://{server.Address}/occy/x:1");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Should().Contain("is plain HTTP; refusing to send credentials over it");
        tokens.WithCredentials.Should().Be(0);
    }

    [Fact]
    public void Src_and_dest_creds_give_each_registry_only_its_own()
    {
        using var tokens = new TokenServer(anonymousPull: true);
        using var source = RegistryServer.Start("token", token: tokens);
        using var destination = RegistryServer.Start("htpasswd");
        Occy("--insecure", "--username", User, "--password", Password, "process", $"tar://{SampleImage}", $"registry://{source.Address}/occy/src:1")
            .Code.Should().Be(0);
        int before = tokens.WithCredentials;
        before.Should().BeGreaterThan(0, "the global credentials reach the token service (the probe counts them)");

        var r = OccyWith(Env(), "--insecure", "--dest-creds", $"{User}:{Password}",
            "process", $"registry://{source.Address}/occy/src:1", $"registry://{destination.Address}/occy/dst:1");
        r.Code.Should().Be(0, r.ToString());
        tokens.WithCredentials.Should().Be(before, "the source registry got no credentials: the destination's are its own");
        Must("skopeo", "inspect", "--tls-verify=false", "--creds", $"{User}:{Password}", $"docker://{destination.Address}/occy/dst:1");

        var both = OccyWith(Env(), "--insecure", "--username", User, "--password", Password,
            "process", $"registry://{source.Address}/occy/src:1", $"registry://{destination.Address}/occy/dst:2");
        both.Code.Should().Be(0, both.ToString());
        tokens.WithCredentials.Should().BeGreaterThan(before, "--username/--password still go to every registry of the command");

        var bad = OccyWith(Env(), "--src-creds", "nocolon", "process", $"tar://{SampleImage}", $"tar://{_dir["x.tar"]}");
        bad.Code.Should().Be(2);
        bad.Stderr.Should().Contain("--src-creds takes USER:PASSWORD");
    }
}
