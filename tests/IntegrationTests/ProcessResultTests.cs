using System.Text.Json.Nodes;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>What process prints for scripts: the digest on stdout, -O json, --digestfile; nothing on stdout but the image for tar://-.</summary>
public sealed class ProcessResultTests(PlainRegistry registry) : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _dir.Dispose();

    private string Reg => registry.Server.Address;

    [Fact]
    public void A_push_prints_the_manifest_digest_skopeo_sees_and_writes_it_to_the_digest_file()
    {
        string target = $"docker://{Reg}/occy/result:{_tag}";
        var r = Occy("--insecure", "process", $"tar://{SampleImage}", $"registry://{Reg}/occy/result:{_tag}", "--digestfile", _dir["digest"]);
        r.Code.Should().Be(0, r.ToString());
        string skopeoDigest = JsonNode.Parse(Must("skopeo", "inspect", "--tls-verify=false", target))!["Digest"]!.GetValue<string>();
        r.Stdout.Should().Be(skopeoDigest + "\n");
        File.ReadAllText(_dir["digest"]).Should().Be(skopeoDigest);
    }

    [Fact]
    public void Json_describes_the_written_image_as_skopeo_does()
    {
        var r = Occy("--insecure", "-O", "json", "process", $"tar://{SampleImage}", $"registry://{Reg}/occy/result-json:{_tag}");
        r.Code.Should().Be(0, r.ToString());
        var doc = JsonNode.Parse(r.Stdout)!; // the whole of stdout is one document
        var skopeo = JsonNode.Parse(Must("skopeo", "inspect", "--tls-verify=false", $"docker://{Reg}/occy/result-json:{_tag}"))!;
        doc["manifest_digest"]!.GetValue<string>().Should().Be(skopeo["Digest"]!.GetValue<string>());
        doc["digest"]!.GetValue<string>().Should().Be(skopeo["Digest"]!.GetValue<string>());
        var raw = JsonNode.Parse(Must("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{Reg}/occy/result-json:{_tag}"))!;
        doc["config_digest"]!.GetValue<string>().Should().Be(raw["config"]!["digest"]!.GetValue<string>());
        doc["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>())
            .Should().Equal(raw["layers"]!.AsArray().Select(l => l!["digest"]!.GetValue<string>()));
        doc["layers"]!.AsArray().Select(l => l!["blob_size"]!.GetValue<long>())
            .Should().Equal(raw["layers"]!.AsArray().Select(l => l!["size"]!.GetValue<long>()));
        doc["destination"]!.GetValue<string>().Should().Contain("occy/result-json");
    }

    [Fact]
    public void An_archive_prints_its_image_id()
    {
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        var raw = JsonNode.Parse(Must("skopeo", "inspect", "--raw", $"docker-archive:{_dir["out.tar"]}"))!;
        r.Stdout.Should().Be(raw["config"]!["digest"]!.GetValue<string>() + "\n");
    }

    [Fact]
    public void With_the_image_on_stdout_the_digest_goes_only_to_the_digest_file_and_search_matches_to_stderr()
    {
        string tar = _dir["stdout.tar"];
        string quoted = $"'{Tooling.Occystrap}' process 'tar://{SampleImage}' tar://- -f 'search:pattern=**/extra.txt,script_friendly=true' --digestfile '{_dir["digest"]}' > '{tar}'";
        var r = Run("sh", ["-c", quoted]);
        r.Code.Should().Be(0, r.ToString());
        // stdout held the archive and nothing else: skopeo reads it, and its image id is the digest written.
        var raw = JsonNode.Parse(Must("skopeo", "inspect", "--raw", $"docker-archive:{tar}"))!;
        File.ReadAllText(_dir["digest"]).Should().Be(raw["config"]!["digest"]!.GetValue<string>());
        r.Stderr.Should().Contain("Summary:");
        r.Stderr.Split('\n').Should().Contain(l => l.EndsWith(":usr/share/sample/extra.txt"), "the search matches are on stderr");
        // Not a byte more on stdout: the same image written to a file is the same bytes.
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["file.tar"]}").Code.Should().Be(0);
        File.ReadAllBytes(tar).Should().Equal(File.ReadAllBytes(_dir["file.tar"]));
    }

    private static List<string> DiffIds(string archive) =>
        JsonNode.Parse(Must("skopeo", "inspect", "--config", $"docker-archive:{archive}"))!["rootfs"]!["diff_ids"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    [Fact]
    public void Json_search_prints_one_document_with_every_match()
    {
        var ids = DiffIds(SampleImage);
        var r = Occy("-O", "json", "search", $"tar://{SampleImage}", "*.txt");
        r.Code.Should().Be(0, r.ToString());
        var doc = JsonNode.Parse(r.Stdout)!; // the whole of stdout is one document
        doc["count"]!.GetValue<int>().Should().Be(2);
        doc["layers"]!.GetValue<int>().Should().Be(2);
        doc["pattern"]!.GetValue<string>().Should().Be("*.txt");
        var matches = doc["matches"]!.AsArray();
        matches.Select(m => (m!["layer"]!.GetValue<string>(), m["path"]!.GetValue<string>(), m["type"]!.GetValue<string>(), m["size"]!.GetValue<long>()))
            .Should().Equal((ids[0], "usr/share/sample/hello.txt", "file", 39L), (ids[1], "usr/share/sample/extra.txt", "file", 27L));

        var none = Occy("-O", "json", "search", $"tar://{SampleImage}", "nothing-like-this");
        JsonNode.Parse(none.Stdout)!["count"]!.GetValue<int>().Should().Be(0, none.ToString());
    }

    [Fact]
    public void Json_process_puts_what_filters_report_into_the_document()
    {
        var r = Occy("-O", "json", "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}",
            "-f", "normalize-timestamps", "-f", "search:pattern=**/extra.txt");
        r.Code.Should().Be(0, r.ToString());
        var doc = JsonNode.Parse(r.Stdout)!;
        var filters = doc["filters"]!.AsArray();
        filters.Select(f => f!["name"]!.GetValue<string>()).Should().Equal("normalize-timestamps", "search");
        filters[0]!["items"]!.AsArray().Should().BeEmpty();
        var match = filters[1]!["items"]!.AsArray().Should().ContainSingle().Which!;
        match["path"]!.GetValue<string>().Should().Be("usr/share/sample/extra.txt");
        // The search sees the layers after normalize-timestamps rewrote them: their new diff_ids.
        DiffIds(_dir["out.tar"]).Should().Contain(match["layer"]!.GetValue<string>());
        r.Stderr.Should().NotContain("extra.txt", "the matches are in the document only");
    }
}
