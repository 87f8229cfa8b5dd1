using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Formats.Archives;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>Every way of authenticating to a registry, against real docker-registry instances.</summary>
public sealed class RegistryAuthTests : IDisposable
{
    private readonly TempDir _dir = new();
    private const string User = RegistryServer.User;
    private const string Password = RegistryServer.Password;

    public void Dispose() => _dir.Dispose();

    private static List<string> DiffIds(string archive) => DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.ToString()).ToList();

    /// <summary>No stray credentials from the machine: an empty Docker config and no podman auth file.</summary>
    private Dictionary<string, string?> Env(params (string, string?)[] extra)
    {
        Directory.CreateDirectory(_dir["docker"]);
        var env = new Dictionary<string, string?>
        {
            ["DOCKER_CONFIG"] = _dir["docker"],
            ["REGISTRY_AUTH_FILE"] = _dir["none.json"],
            ["XDG_RUNTIME_DIR"] = _dir["run"],
            ["HOME"] = _dir.Path,
            ["OCCYSTRAP_USERNAME"] = null,
            ["OCCYSTRAP_PASSWORD"] = null,
        };
        foreach (var (k, v) in extra) env[k] = v;
        return env;
    }

    private void RoundTrip(RegistryServer server, Dictionary<string, string?> env, params string[] globals)
    {
        string image = $"{server.Address}/occy/auth:1";
        var push = OccyWith(env, [.. globals, "process", $"tar://{SampleImage}", $"registry://{image}"]);
        push.Code.Should().Be(0, push.ToString());
        var pull = OccyWith(env, [.. globals, "process", $"registry://{image}", $"tar://{_dir["out.tar"]}"]);
        pull.Code.Should().Be(0, pull.ToString());
        DiffIds(_dir["out.tar"]).Should().Equal(DiffIds(SampleImage));
        (push.Stderr + pull.Stderr).Should().NotContain(Password, "secrets never reach the output");
    }

    [Fact]
    public void Basic_auth_with_flags_environment_uri_and_docker_config()
    {
        using var server = RegistryServer.Start("htpasswd");
        RoundTrip(server, Env(), "--insecure", "--username", User, "--password", Password);
        RoundTrip(server, Env(("OCCYSTRAP_USERNAME", User), ("OCCYSTRAP_PASSWORD", Password)), "--insecure");

        var viaUri = OccyWith(Env(), "--insecure", "process", $"tar://{SampleImage}", $"registry://{User}:{Password}@{server.Address}/occy/uri:1");
        viaUri.Code.Should().Be(0, viaUri.ToString());

        string auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        var env = Env();
        File.WriteAllText(Path.Combine(_dir["docker"], "config.json"), $"{{\"auths\":{{\"{server.Address}\":{{\"auth\":\"{auth}\"}}}}}}");
        RoundTrip(server, env, "--insecure");
    }

    [Fact]
    public void A_docker_credential_helper_and_the_podman_auth_file_are_used()
    {
        using var server = RegistryServer.Start("htpasswd");
        Directory.CreateDirectory(_dir["bin"]);
        string helper = _dir["bin/docker-credential-occytest"];
        File.WriteAllText(helper, $"#!/bin/sh\nread host\n[ \"$1\" = get ] && [ \"$host\" = \"{server.Address}\" ] && echo '{{\"Username\":\"{User}\",\"Secret\":\"{Password}\"}}'\n");
        File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var env = Env(("PATH", _dir["bin"] + ":" + Environment.GetEnvironmentVariable("PATH")));
        File.WriteAllText(Path.Combine(_dir["docker"], "config.json"), $"{{\"credHelpers\":{{\"{server.Address}\":\"occytest\"}}}}");
        RoundTrip(server, env, "--insecure");

        string auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
        File.WriteAllText(_dir["podman-auth.json"], $"{{\"auths\":{{\"{server.Address}\":{{\"auth\":\"{auth}\"}}}}}}");
        RoundTrip(server, Env(("REGISTRY_AUTH_FILE", _dir["podman-auth.json"])), "--insecure");
    }

    [Fact]
    public void Redirects_to_blob_storage_are_followed_without_the_credentials()
    {
        using var server = RegistryServer.Start("htpasswd");
        var env = Env();
        var push = OccyWith(env, "--insecure", "--username", User, "--password", Password, "process", $"tar://{SampleImage}", $"registry://{server.Address}/occy/redir:1");
        push.Code.Should().Be(0, push.ToString());
        using var proxy = new FaultProxy(server.Address, redirectBlobsWith: $"{User}:{Password}");
        var pull = OccyWith(env, "--insecure", "--username", User, "--password", Password, "process", $"registry://{proxy.Address}/occy/redir:1", $"tar://{_dir["out.tar"]}");
        pull.Code.Should().Be(0, pull.ToString());
        DiffIds(_dir["out.tar"]).Should().Equal(DiffIds(SampleImage));
        proxy.RedirectedCarriedAuth.Should().NotBeEmpty().And.AllSatisfy(a => a.Should().BeFalse("credentials stay with the registry's own host"));
    }

    [Fact]
    public void Wrong_or_missing_credentials_are_one_clear_line_without_the_secret()
    {
        using var server = RegistryServer.Start("htpasswd");
        var wrong = OccyWith(Env(), "--debug", "--insecure", "--username", User, "--password", "not-" + Password,
            "process", $"tar://{SampleImage}", $"registry://{server.Address}/occy/x:1");
        wrong.Code.Should().Be(1);
        wrong.Stderr.Should().Contain("refused").And.Contain(server.Address).And.NotContain("not-" + Password);
        var none = OccyWith(Env(), "--insecure", "process", $"tar://{SampleImage}", $"registry://{server.Address}/occy/x:1");
        none.Code.Should().Be(1);
        none.Stderr.Should().Contain("needs credentials");
    }

    [Fact]
    public void Tls_with_a_private_ca_trusted_through_SSL_CERT_FILE()
    {
        using var server = RegistryServer.Start("htpasswd", tls: true);
        RoundTrip(server, Env(("SSL_CERT_FILE", server.CaFile)), "--username", User, "--password", Password);
        var untrusted = OccyWith(Env(), "--username", User, "--password", Password, "process", $"tar://{SampleImage}", $"registry://{server.Address}/occy/x:1");
        untrusted.Code.Should().Be(1);
        untrusted.Stderr.Should().Contain(server.Address).And.MatchRegex("SSL|certificate");
        Must("skopeo", "inspect", "--cert-dir", server.CertDir!, "--creds", $"{User}:{Password}", $"docker://{server.Address}/occy/auth:1");
    }

    [Fact]
    public void Token_auth_with_credentials_and_anonymous_pulls()
    {
        using var tokens = new TokenServer(anonymousPull: true);
        using var server = RegistryServer.Start("token", token: tokens);
        RoundTrip(server, Env(), "--insecure", "--username", User, "--password", Password);
        int issued = tokens.Issued;
        issued.Should().BeLessThan(10, "tokens are reused per scope");

        var anonymous = OccyWith(Env(), "--insecure", "process", $"registry://{server.Address}/occy/auth:1", $"tar://{_dir["anon.tar"]}");
        anonymous.Code.Should().Be(0, anonymous.ToString());
        var push = OccyWith(Env(), "--insecure", "process", $"tar://{SampleImage}", $"registry://{server.Address}/occy/anon:1");
        push.Code.Should().Be(1, "an anonymous token grants pull only");

        var wrong = OccyWith(Env(), "--insecure", "--username", User, "--password", "bad", "process", $"registry://{server.Address}/occy/auth:1", $"tar://{_dir["w.tar"]}");
        wrong.Code.Should().Be(1);
        wrong.Stderr.Should().Contain("refused the username or password");
        Must("skopeo", "inspect", "--tls-verify=false", "--creds", $"{User}:{Password}", $"docker://{server.Address}/occy/auth:1");
    }
}
