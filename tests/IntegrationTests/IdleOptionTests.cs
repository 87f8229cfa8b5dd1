using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>An option that does nothing on a run is said to do nothing; a filter option swallowed into a value is an error.</summary>
public sealed class IdleOptionTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private Result Copy(params string[] globals) =>
        Occy([.. globals, "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}"]);

    [Fact]
    public void Compression_for_an_output_of_plain_layers_is_said_to_do_nothing()
    {
        var r = Copy("--compression", "zstd");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("warning: --compression zstd does nothing for tar://, which stores plain layers");
        Copy().Stderr.Should().NotContain("--compression");
    }

    [Fact]
    public void A_layer_cache_for_an_output_without_blobs_is_said_to_do_nothing()
    {
        var r = Copy("--layer-cache", _dir["cache.json"]);
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("warning: --layer-cache does nothing for tar://");
    }

    [Fact]
    public void An_architecture_a_single_platform_image_does_not_have_is_said_not_to_apply()
    {
        var r = Copy("--architecture", "arm64");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("warning: --architecture arm64 does not apply").And.Contain("single-platform image for amd64");
        Copy("--architecture", "amd64").Stderr.Should().NotContain("does not apply");
    }

    [Fact]
    public void A_bare_option_name_after_a_value_is_a_usage_error_not_part_of_the_value()
    {
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}", "-f", "search:pattern=*.txt,script-friendly");
        r.Code.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("'script-friendly' was read as part of the value of 'pattern'").And.Contain("write script-friendly=true");
        _dir.Files.Should().BeEmpty();
        // Other bare pieces still continue a list.
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}", "-f", "exclude:pattern=**/.git/**,**/*.pyc").Code.Should().Be(0);
    }
}
