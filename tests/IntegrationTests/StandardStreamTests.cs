using System.Text.Json.Nodes;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>tar://- and /dev/stdin as the source: pipes (plain and compressed) and redirected files, with skopeo reading the result.</summary>
public sealed class StandardStreamTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";

    private Result Shell(string script) => Run("sh", ["-c", script], new Dictionary<string, string?> { ["OCCYSTRAP_TEMP_DIR"] = _dir["tmp"] });

    private static List<string> DiffIds(string archive) =>
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{archive}"))!["rootfs"]!["diff_ids"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    private string Expected()
    {
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["direct.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        return r.Stdout;
    }

    [Theory]
    [InlineData("cat", "tar:///dev/stdin")]
    [InlineData("cat", "tar://-")]
    [InlineData("gzip -c", "tar://-")]
    [InlineData("zstd -q -c", "tar:///dev/stdin")]
    public void An_archive_piped_in_is_read_and_the_spool_is_removed(string producer, string source)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        string expected = Expected();
        var r = Shell($"{producer} {Q(SampleImage)} | {Q(Tooling.Occystrap)} process {source} {Q("tar://" + _dir["out.tar"])}");
        r.Code.Should().Be(0, r.ToString());
        r.Stdout.Should().Be(expected, "the same image id as reading the file itself");
        DiffIds(_dir["out.tar"]).Should().Equal(DiffIds(SampleImage));
        Directory.GetFileSystemEntries(_dir["tmp"]).Should().BeEmpty("the spooled copy is deleted");
    }

    [Fact]
    public void Stdin_in_and_stdout_out_make_a_filter_in_a_shell_pipe()
    {
        Directory.CreateDirectory(_dir["tmp"]);
        var r = Shell($"gzip -c {Q(SampleImage)} | {Q(Tooling.Occystrap)} process tar://- tar://- -f normalize-timestamps > {Q(_dir["piped.tar"])}");
        r.Code.Should().Be(0, r.ToString());
        DiffIds(_dir["piped.tar"]).Should().HaveCount(DiffIds(SampleImage).Count);
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{_dir["piped.tar"]}"))!["rootfs"].Should().NotBeNull();
    }

    [Fact]
    public void A_file_redirected_in_is_read_in_place()
    {
        Directory.CreateDirectory(_dir["tmp"]);
        string expected = Expected();
        var r = Shell($"{Q(Tooling.Occystrap)} --verbose process tar://- {Q("tar://" + _dir["out.tar"])} < {Q(SampleImage)}");
        r.Code.Should().Be(0, r.ToString());
        r.Stdout.Should().Be(expected);
    }

    [Theory]
    [InlineData("true", "standard input is empty")]
    [InlineData("echo 'not an archive at all'", "standard input")]
    [InlineData("head -c 1000", "standard input is truncated")]
    public void Bad_input_on_stdin_is_one_line_and_leaves_nothing(string producer, string message)
    {
        Directory.CreateDirectory(_dir["tmp"]);
        string cmd = producer.StartsWith("head", StringComparison.Ordinal) ? $"gzip -c {Q(SampleImage)} | {producer}" : producer;
        var r = Shell($"{cmd} | {Q(Tooling.Occystrap)} process tar://- {Q("tar://" + _dir["out.tar"])}");
        r.Code.Should().Be(1, r.ToString());
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle(r.ToString()).Which.Should().StartWith("occystrap: error: ").And.Contain(message);
        File.Exists(_dir["out.tar"]).Should().BeFalse();
        Directory.GetFileSystemEntries(_dir["tmp"]).Should().BeEmpty("no spooled copy is left behind");
    }
}
