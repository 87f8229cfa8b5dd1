using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>When nothing can work, the run says so at once, in one line, instead of retrying for seconds.</summary>
public sealed class FailFastTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] Lines(Result r) => r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void A_host_name_that_does_not_resolve_fails_at_once_naming_the_host()
    {
        var r = Occy("process", "registry://no-such-host.invalid/team/app:1", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        var line = Lines(r).Should().ContainSingle(r.ToString()).Which;
        line.Should().Contain("no-such-host.invalid").And.Contain("does not resolve").And.NotContain("attempts");
        _dir.Files.Should().BeEmpty();
    }

    [Fact]
    public void A_refused_connection_gets_three_attempts_not_five()
    {
        int port = RegistryServer.FreePort(); // nothing listens there
        var r = Occy("--insecure", "process", $"registry://127.0.0.1:{port}/team/app:1", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        Lines(r).Count(l => l.Contains("retrying")).Should().Be(2, r.ToString());
        Lines(r).Should().Contain(l => l.Contains("error:") && l.Contains("(after 3 attempts)"));
    }

    [Fact]
    public void A_plain_http_registry_reached_over_https_is_named_as_such()
    {
        var r = Occy("process", $"registry://{registry.Server.Address}/team/app:1", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(1, r.ToString());
        var line = Lines(r).Should().ContainSingle(r.ToString()).Which;
        line.Should().Contain(registry.Server.Address).And.Contain("answers plain HTTP, not HTTPS").And.Contain("--insecure");
        line.Should().NotContain("frame");
    }
}
