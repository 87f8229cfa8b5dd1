using System.Text.Json.Nodes;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>What a user who mistypes sees, and the help they get, from the published binary.</summary>
public sealed class ParserAndHelpTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string OnlyLine(Result r)
    {
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle(r.ToString());
        lines[0].Should().StartWith("occystrap: error: ").And.NotContain("\t");
        return lines[0];
    }

    [Fact]
    public void A_misspelt_command_is_one_line_with_the_nearest_name()
    {
        var r = Occy("proces", "tar://a.tar", "tar://b.tar");
        r.Code.Should().Be(2);
        OnlyLine(r).Should().Contain("unknown command 'proces'").And.Contain("did you mean 'process'?");
        OnlyLine(Occy("nothing-like-it")).Should().Contain("unknown command 'nothing-like-it'").And.NotContain("did you mean");
    }

    [Fact]
    public void Missing_arguments_are_named_once()
    {
        var r = Occy("process");
        r.Code.Should().Be(2);
        OnlyLine(r).Should().Contain("process needs SOURCE and DESTINATION").And.Contain("occystrap process --help");
        OnlyLine(Occy("process", "tar://a.tar")).Should().Contain("process needs DESTINATION");
    }

    [Fact]
    public void A_bad_number_is_called_a_whole_number_not_a_dotnet_type()
    {
        var r = Occy("-j", "abc", "process", "tar://a.tar", "tar://b.tar");
        r.Code.Should().Be(2);
        OnlyLine(r).Should().Contain("'abc'").And.Contain("a whole number").And.NotContain("System.");
    }

    [Fact]
    public void The_output_format_is_one_clean_line_when_wrong_and_taken_in_any_case()
    {
        OnlyLine(Occy("-O", "yaml", "plugins")).Should().Contain("--output-format takes text or json, not 'yaml'");
        var r = Occy("-O", "JSON", "plugins");
        r.Code.Should().Be(0, r.ToString());
        JsonNode.Parse(r.Stdout)!["inputs"].Should().NotBeNull();
    }

    [Fact]
    public void A_bad_environment_variable_is_named_as_the_variable()
    {
        var r = OccyWith(new Dictionary<string, string?> { ["OCCYSTRAP_COMPRESSION"] = "xz" }, "process", $"tar://{SampleImage}", $"tar://{_dir["x.tar"]}");
        r.Code.Should().Be(2);
        OnlyLine(r).Should().Contain("OCCYSTRAP_COMPRESSION takes gzip or zstd, not 'xz'").And.NotContain("--compression");
        OnlyLine(Occy("--compression", "xz", "process", $"tar://{SampleImage}", $"tar://{_dir["x.tar"]}")).Should().Contain("--compression takes gzip or zstd");
        _dir.Files.Should().BeEmpty();
    }

    [Fact]
    public void Help_is_a_command_too_and_legacy_commands_have_their_own_topic()
    {
        var root = Occy("help");
        root.Code.Should().Be(0, root.ToString());
        root.Stdout.Should().Be(Occy("--help").Stdout);
        root.Stdout.Should().Contain("process").And.Contain("help").And.NotContain("fetch-to-tarfile");

        var process = Occy("help", "process");
        process.Code.Should().Be(0);
        process.Stdout.Should().Be(Occy("process", "--help").Stdout);

        var legacy = Occy("help", "legacy");
        legacy.Code.Should().Be(0);
        legacy.Stdout.Should().Contain("fetch-to-tarfile REGISTRY IMAGE TAG TARFILE").And.Contain("recreate-image");

        var wrong = Occy("help", "proces");
        wrong.Code.Should().Be(2);
        OnlyLine(wrong).Should().Contain("did you mean 'process'?");
    }

    [Fact]
    public void Process_help_has_examples_the_installed_plugins_and_says_what_oci_means_here()
    {
        string help = Occy("process", "--help").Stdout;
        help.Should().Contain("Examples:").And.Contain("occystrap process tar://image.tar registry://");
        help.Should().Contain("oci:// here is an OCI runtime bundle").And.Contain("what skopeo calls oci:");
        string inputs = help.Split('\n').Single(l => l.Contains("Installed input schemes:"));
        inputs.Should().Contain("registry").And.Contain("tar").And.Contain("oci-layout").And.Contain("docker").And.Contain("dir");
        help.Split('\n').Single(l => l.Contains("Installed output schemes:")).Should().Contain("oci").And.Contain("mounts");
        help.Split('\n').Single(l => l.Contains("Installed filters:")).Should().Contain("normalize-timestamps").And.Contain("exclude");
        // A plugin dropped into a plugin folder is listed as well.
        Occy("--plugins-dir", SamplePlugins, "process", "--help").Stdout.Should().Contain("set-owner");
        foreach (string command in new[] { "search", "info", "check", "plugins" })
            Occy(command, "--help").Stdout.Should().Contain("Examples:", command);
    }
}
