using System.Text;
using Occystrap.Abstractions;
using Occystrap.Registry;

namespace Occystrap.UnitTests;

[Collection("process environment")]
public sealed class RegistryParsingTests
{
    [Theory]
    [InlineData("docker.io/busybox", "registry-1.docker.io", "library/busybox", "latest", null)]
    [InlineData("docker.io/library/python:3.11", "registry-1.docker.io", "library/python", "3.11", null)]
    [InlineData("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", null)]
    [InlineData("ghcr.io/org/img", "ghcr.io", "org/img", "latest", null)]
    [InlineData("127.0.0.1:5000/x@sha256:0123456789012345678901234567890123456789012345678901234567890123", "127.0.0.1:5000", "x", null, "sha256:0123456789012345678901234567890123456789012345678901234567890123")]
    public void References_parse_like_docker(string text, string registry, string repository, string? tag, string? digest)
    {
        var r = ImageReference.Parse(text);
        r.Registry.Should().Be(registry);
        r.Repository.Should().Be(repository);
        r.Tag.Should().Be(tag);
        r.Digest?.ToString().Should().Be(digest);
    }

    [Fact]
    public void Credentials_in_the_reference_are_taken_out_of_the_name()
    {
        var r = ImageReference.Parse("user:p%40ss@registry.example.com:443/team/app:1");
        r.Username.Should().Be("user");
        r.Password.Should().Be("p@ss");
        r.Registry.Should().Be("registry.example.com:443");
        r.ToString().Should().NotContain("p@ss");
    }

    [Theory]
    [InlineData("nohost")]
    [InlineData("host/UPPER:tag")]
    [InlineData("host/x@sha256:abc")]
    public void Bad_references_are_usage_errors(string text)
    {
        var act = () => ImageReference.Parse(text);
        act.Should().Throw<UsageException>();
    }

    [Fact]
    public void Challenges_parse_in_any_order_with_or_without_quotes()
    {
        var c = AuthChallenge.Parse("Bearer service=\"reg istry\",scope=\"repository:a/b:pull,push\", realm=https://auth.example/token")!;
        c.Scheme.Should().Be("Bearer");
        c["realm"].Should().Be("https://auth.example/token");
        c["service"].Should().Be("reg istry");
        c["scope"].Should().Be("repository:a/b:pull,push");
        AuthChallenge.Parse("Basic realm=\"x\"")!.Scheme.Should().Be("Basic");
    }

    [Fact]
    public void Credentials_come_from_the_docker_config_when_flags_give_none()
    {
        string dir = Path.Combine(Path.GetTempPath(), "occy-cred-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        string? old = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
        try
        {
            string auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:wonder:land"));
            File.WriteAllText(Path.Combine(dir, "config.json"), $"{{\"auths\":{{\"https://index.docker.io/v1/\":{{\"auth\":\"{auth}\"}},\"reg.example\":{{\"username\":\"bob\",\"password\":\"pw\"}}}}}}");
            Environment.SetEnvironmentVariable("DOCKER_CONFIG", dir);
            Credentials.Find("registry-1.docker.io", null, null).Should().Be(new Credential("alice", "wonder:land"));
            Credentials.Find("reg.example", null, null).Should().Be(new Credential("bob", "pw"));
            Credentials.Find("reg.example", "flag", "given").Should().Be(new Credential("flag", "given"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("DOCKER_CONFIG", old);
            Directory.Delete(dir, true);
        }
    }
}
