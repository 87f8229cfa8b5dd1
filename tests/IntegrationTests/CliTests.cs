using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Tar;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

public sealed class CliTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_main_job_copies_the_sample_image_into_an_archive_skopeo_reads()
    {
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("Summary: 2 layers");
        var inspected = JsonNode.Parse(Must("skopeo", "inspect", $"docker-archive:{_dir["out.tar"]}"))!;
        var expected = DockerArchiveImage.Open(SampleImage, null).Layers.Select(l => l.DiffId.ToString());
        inspected["Layers"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal(expected);
        _dir.Files.Should().Equal("out.tar");
    }

    [Fact]
    public void A_copy_between_archives_loads_no_http_stack_and_no_code_generation()
    {
        // The start-up trace names the assemblies each step loaded. Sharing the contract with plugins once loaded the
        // whole closure of the contract's references (about 15 assemblies a tar copy never uses), and the redaction
        // of a URI loaded the regular expressions it did not run.
        var r = OccyWith(new Dictionary<string, string?> { ["OCCYSTRAP_TRACE_STARTUP"] = "1" },
            "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        var loaded = r.Stderr.Split('\n')
            .Where(l => l.StartsWith("startup:", StringComparison.Ordinal) && l.Contains("(loaded: ", StringComparison.Ordinal))
            .SelectMany(l => l[(l.IndexOf("(loaded: ", StringComparison.Ordinal) + 9)..].TrimEnd(')').Split(", ", StringSplitOptions.RemoveEmptyEntries))
            .ToList();
        loaded.Should().Contain(["Occystrap.Inputs.Tarball", "Occystrap.Outputs.Tarball", "System.Private.CoreLib"]);
        loaded.Should().NotContain(["System.Net.Http", "System.Net.Sockets", "System.Reflection.Emit.Lightweight", "System.Linq.Expressions",
            "System.Text.RegularExpressions", "System.IO.Compression.Brotli"]);
    }

    [Fact]
    public void The_tool_carries_its_runtime_and_runs_with_the_installed_dotnet_hidden()
    {
        // The installed runtime's folder (…/shared/Microsoft.NETCore.App/10.x), three levels up: the .NET root.
        string runtime = System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        string root = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        Directory.Exists(Path.Combine(root, "shared", "Microsoft.NETCore.App")).Should().BeTrue(root);
        // A private mount namespace with an empty folder over the .NET root: only this command sees it.
        string script = "mount -t tmpfs none \"$1\" && [ -z \"$(ls -A \"$1\")\" ] && exec \"$2\" process \"tar://$3\" \"tar://$4\"";
        var r = Run("unshare", ["-m", "sh", "-c", script, "sh", root, Tooling.Occystrap, SampleImage, _dir["out.tar"]]);
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("Summary: 2 layers");
        Must("skopeo", "inspect", $"docker-archive:{_dir["out.tar"]}").Should().Contain("\"Layers\"");
    }

    [Fact]
    public void Compressed_layers_are_the_same_bytes_on_one_core_and_without_the_instruction_sets_the_tool_was_compiled_for()
    {
        // One layer of about 5 MiB that meets every method of the block compressor: base64 text (Huffman
        // only), random bytes (stored), counted lines (matching) and zeros.
        var rng = new Random(7);
        byte[] random = new byte[1_500_000];
        rng.NextBytes(random);
        byte[] text = Encoding.ASCII.GetBytes(Convert.ToBase64String(random[..1_100_000]));
        byte[] lines = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 120_000).Select(i => $"{i}\n")));
        byte[] data = [.. text, .. random, .. lines, .. new byte[300_000]];
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            w.WriteEntry(new Occystrap.Abstractions.LayerEntry("data/mixed.bin", Occystrap.Abstractions.EntryKind.File, data.Length) { Mode = 0x1A4 }, new MemoryStream(data));
            w.Finish();
        }
        string image = _dir["mixed.tar"];
        Archives.FromLayers(image, "mixed:1", [ms.ToArray()]);

        string Blobs(string name, string? wrapper, Dictionary<string, string?>? env)
        {
            string layout = _dir[name];
            string[] args = ["process", $"tar://{image}", $"oci-layout://{layout}"];
            var r = wrapper is null ? Run(Tooling.Occystrap, args, env) : Run(wrapper, ["-c", "0", Tooling.Occystrap, .. args], env);
            r.Code.Should().Be(0, r.ToString());
            return string.Join(",", Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        string usual = Blobs("usual", null, null);
        // The host is precompiled for x86-64-v3: with AVX2 and AVX-512 switched off, as on an older processor,
        // the runtime refuses that code and compiles everything itself. Nothing may change but the time.
        string jitted = _dir["jitted.txt"];
        string older = Blobs("older", null, new()
        {
            ["DOTNET_EnableAVX2"] = "0", ["DOTNET_EnableAVX512F"] = "0",
            ["DOTNET_JitStdOutFile"] = jitted, ["DOTNET_JitDisasmSummary"] = "1",
        });
        // A line per method the runtime compiled: thousands when it refused the precompiled image, 150 to 200
        // when it used it (as it would here with an image built for the baseline instruction set).
        File.ReadLines(jitted).Count().Should().BeGreaterThan(2000, "the precompiled code needs AVX2, so it is not used here");
        string oneCore = Blobs("one-core", "taskset", null);
        usual.Split(',').Should().HaveCount(3, "a layer, a config and a manifest");
        older.Should().Be(usual);
        oneCore.Should().Be(usual);
    }

    public static TheoryData<string[], int, string> BadInput => new()
    {
        { ["process", "tar://{dir}/missing.tar", "tar://{dir}/out.tar"], 1, "*missing.tar: no such file" },
        { ["process", "tar://{dir}/notatar.tar", "tar://{dir}/out.tar"], 1, "*is not a tar archive*" },
        { ["process", "tar://{dir}/truncated.tar", "tar://{dir}/out.tar"], 1, "*truncated*" },
        { ["process", "nosuch://x", "tar://{dir}/out.tar"], 2, "*unknown input scheme 'nosuch'*" },
        { ["process", "tar://{sample}", "nosuch://x"], 2, "*unknown output scheme 'nosuch'*" },
        { ["process", "tar://{sample}", "tar://{dir}/out.tar", "-f", "no-such-filter"], 2, "*unknown filter 'no-such-filter'*" },
        { ["process", "tar://{sample}", "tar://{dir}/out.tar?colour=blue"], 2, "*output 'tar' has no option 'colour'*" },
        { ["process", "tar://{sample}", "tar://{dir}/no/such/folder/out.tar"], 1, "*does not exist*" },
        { ["--parallel", "zero", "process", "tar://{sample}", "tar://{dir}/out.tar"], 2, "*zero*" },
        { ["process", "tar://{sample}"], 2, "*process needs DESTINATION*" },
        { ["no-such-command"], 2, "*no-such-command*" },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    public void Bad_input_gives_one_line_an_exit_code_and_no_partial_output(string[] args, int code, string message)
    {
        File.WriteAllText(_dir["notatar.tar"], new string('x', 2048));
        byte[] sample = File.ReadAllBytes(SampleImage);
        File.WriteAllBytes(_dir["truncated.tar"], sample[..(sample.Length - 5000)]);
        var before = _dir.Files.ToList();

        var r = Occy(args.Select(a => a.Replace("{dir}", _dir.Path).Replace("{sample}", SampleImage)).ToArray());
        r.Code.Should().Be(code, r.ToString());
        var errors = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("error:")).ToList();
        errors.Should().NotBeEmpty(r.ToString());
        errors.Should().Contain(l => System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(message, l), r.ToString());
        r.Stderr.Should().NotContain("   at ", "no stack trace without --debug");
        _dir.Files.Should().Equal(before, "nothing partial is left behind");
    }

    [Fact]
    public void Normalize_and_exclude_give_byte_identical_output_in_two_separate_processes()
    {
        string[] Args(string output) =>
            ["process", $"tar://{SampleImage}", $"tar://{output}", "-f", "exclude:pattern=**/greeting,etc/hostname", "-f", "normalize-timestamps:ts=1609459200"];
        Occy(Args(_dir["a.tar"])).Code.Should().Be(0);
        var second = Occy(Args(_dir["b.tar"]));
        second.Code.Should().Be(0, second.ToString());
        File.ReadAllBytes(_dir["a.tar"]).Should().Equal(File.ReadAllBytes(_dir["b.tar"]));

        var names = new List<string>();
        foreach (var layer in DockerArchiveImage.Open(_dir["a.tar"], null).Layers)
        {
            using var reader = new TarArchiveReader(layer.OpenAsync(default).Result);
            while (reader.Next() is { } e)
            {
                names.Add(e.Entry.Path);
                e.Entry.ModificationTime.ToUnixTimeSeconds().Should().Be(1609459200);
            }
        }
        names.Should().Contain("usr/share/sample/hello.txt").And.NotContain("usr/share/sample/greeting").And.NotContain("etc/hostname");
    }

    private static List<string> Layers(string archive) => DockerArchiveImage.Open(archive, null).Layers.Select(l => l.DiffId.Hex).ToList();

    [Fact]
    public void Search_prints_matches_per_layer_and_script_friendly_lines()
    {
        var ids = Layers(SampleImage);
        var r = Occy("search", $"tar://{SampleImage}", "*.txt");
        r.Code.Should().Be(0, r.ToString());
        r.Stdout.Should().Be(
            $"Layer: {ids[0]}\n  usr/share/sample/hello.txt (file, 39 bytes)\n\n" +
            $"Layer: {ids[1]}\n  usr/share/sample/extra.txt (file, 27 bytes)\n\n" +
            "Found 2 matches in 2 layers.\n");

        var s = Occy("search", "--regex", "--script-friendly", $"tar://{SampleImage}", "sample/gr.*ing$");
        s.Stdout.Should().Be($"localhost/occystrap/sample:latest:{ids[0]}:usr/share/sample/greeting\n");
        Occy("search", $"tar://{SampleImage}", "nothing-like-this").Stdout.Should().Be("No matches found.\n");
        Occy("search", "--regex", $"tar://{SampleImage}", "(unclosed").Code.Should().Be(2);
    }

    [Fact]
    public void Search_as_a_filter_passes_the_image_on_byte_for_byte()
    {
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["plain.tar"]}").Code.Should().Be(0);
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["searched.tar"]}", "-f", "search:pattern=**/hello.txt");
        r.Code.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("usr/share/sample/hello.txt (file, 39 bytes)");
        File.ReadAllBytes(_dir["searched.tar"]).Should().Equal(File.ReadAllBytes(_dir["plain.tar"]));
    }

    [Fact]
    public void Inspect_between_filters_records_the_digests_the_image_has_at_that_point()
    {
        string jsonl = _dir["inspect.jsonl"];
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}",
            "-f", $"inspect:file={jsonl}", "-f", "normalize-timestamps", "-f", $"inspect:file={jsonl}", "-f", "exclude:pattern=etc/hostname", "-f", $"inspect:file={jsonl}");
        r.Code.Should().Be(0, r.ToString());
        var records = File.ReadAllLines(jsonl).Select(l => JsonNode.Parse(l)!).ToList();
        records.Should().HaveCount(3);
        List<string> Ids(JsonNode record) => record["layers"]!.AsArray().Reverse().Select(l => l!["Id"]!.GetValue<string>()["sha256:".Length..]).ToList();
        Ids(records[0]).Should().Equal(Layers(SampleImage));
        Ids(records[1]).Should().NotIntersectWith(Layers(SampleImage)).And.NotBeEquivalentTo(Ids(records[2]));
        Ids(records[2]).Should().Equal(Layers(_dir["out.tar"]));
        records[0]["name"]!.GetValue<string>().Should().Be("localhost/occystrap/sample:latest");
        records[0]["layers"]![0]!["Tags"]![0]!.GetValue<string>().Should().Be("localhost/occystrap/sample:latest");
        records[0]["layers"]![1]!["CreatedBy"]!.GetValue<string>().Should().Be("sample rootfs");
        var sizes = DockerArchiveImage.Open(_dir["out.tar"], null).Layers.Select(l => l.StoredSize).Reverse();
        records[2]["layers"]!.AsArray().Select(l => (long?)l!["Size"]!.GetValue<long>()).Should().Equal(sizes);
    }

    [Fact]
    public void Several_processes_append_to_one_inspect_file_safely()
    {
        string jsonl = _dir["shared.jsonl"];
        var runs = Enumerable.Range(0, 4).Select(n => Task.Run(() =>
            Occy("process", $"tar://{SampleImage}", $"tar://{_dir[$"o{n}.tar"]}", "-f", $"inspect:file={jsonl}"))).ToArray();
        Task.WaitAll(runs);
        runs.Should().AllSatisfy(t => t.Result.Code.Should().Be(0));
        var lines = File.ReadAllLines(jsonl);
        lines.Should().HaveCount(4);
        lines.Should().AllSatisfy(l => JsonNode.Parse(l)!["layers"]!.AsArray().Should().HaveCount(2));
    }

    [Fact]
    public void A_search_pattern_may_hold_commas_and_equals_signs()
    {
        var r = Occy("search", "--regex", $"tar://{SampleImage}", "hel{1,2}o\\.(txt|x=y)$");
        r.Code.Should().Be(0, r.ToString());
        r.Stdout.Should().Contain("usr/share/sample/hello.txt").And.Contain("Found 1 match in 1 layer.");
    }

    [Fact]
    public void An_interrupt_stops_the_run_and_removes_the_partial_output()
    {
        // One layer with a 1 GiB file: slow enough to interrupt while it is being rewritten.
        Must("bash", "-euo", "pipefail", "-c", $$$"""
            cd {{{_dir.Path}}} && mkdir -p root img && truncate -s 1G root/big
            tar --format=pax -C root -cf layer.tar big
            d=$(sha256sum layer.tar | cut -d' ' -f1); mkdir img/$d && mv layer.tar img/$d/layer.tar
            printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $d > cfg
            c=$(sha256sum cfg | cut -d' ' -f1); mv cfg img/$c.json
            printf '[{"Config":"%s.json","RepoTags":["localhost/big:1"],"Layers":["%s/layer.tar"]}]' $c $d > img/manifest.json
            tar -C img -cf big.tar . && rm -rf img root
            """);
        var psi = new System.Diagnostics.ProcessStartInfo(Tooling.Occystrap) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "process", $"tar://{_dir["big.tar"]}", $"tar://{_dir["out.tar"]}", "-f", "normalize-timestamps" })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!Directory.GetFiles(_dir.Path, "*.partial").Any(f => new FileInfo(f).Length > 50_000_000) && DateTime.UtcNow < deadline && !p.HasExited)
            Thread.Sleep(20);
        p.HasExited.Should().BeFalse("the run should still be going");
        Must("kill", "-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        p.WaitForExit(30_000).Should().BeTrue();
        p.ExitCode.Should().Be(130, stderr.Result);
        stderr.Result.Should().Contain("interrupted");
        _dir.Files.Should().Equal("big.tar");
    }

    [Fact]
    public void Debug_adds_the_stack_trace()
    {
        var r = Occy("--debug", "process", $"tar://{_dir["missing.tar"]}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(1);
        r.Stderr.Should().Contain("   at ");
    }

    [Fact]
    public void Plugins_lists_every_scheme_and_filter_with_options_and_assembly()
    {
        var text = Occy("plugins");
        text.Code.Should().Be(0, text.ToString());
        text.Stdout.Should().Contain("Input schemes:").And.Contain("Output schemes:").And.Contain("Filters:")
            .And.Contain("Occystrap.Inputs.Tarball.dll").And.Contain("name (string)");

        var json = JsonNode.Parse(Occy("-O", "json", "plugins").Stdout)!;
        var input = json["inputs"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "tar")!;
        input["assembly"]!.GetValue<string>().Should().EndWith("plugins/Occystrap.Inputs.Tarball/Occystrap.Inputs.Tarball.dll");
        input["options"]!.AsArray().Select(o => o!["name"]!.GetValue<string>()).Should().Contain("image");
        json["outputs"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).Should().Contain("tar");
    }

    [Fact]
    public void A_third_party_plugin_dropped_into_a_plugin_folder_is_listed_and_used()
    {
        var env = new Dictionary<string, string?> { ["OCCYSTRAP_PLUGIN_PATH"] = SamplePlugins };
        var list = OccyWith(env, "-O", "json", "plugins");
        var filter = JsonNode.Parse(list.Stdout)!["filters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "set-owner")!;
        filter["assembly"]!.GetValue<string>().Should().Be(Path.Combine(SamplePlugins, "Occystrap.Samples.SetOwner", "Occystrap.Samples.SetOwner.dll"));

        var r = OccyWith(env, "process", $"tar://{SampleImage}", $"tar://{_dir["owned.tar"]}", "-f", "set-owner:uid=4242,gid=4343");
        r.Code.Should().Be(0, r.ToString());
        var owners = new HashSet<(long, long)>();
        var image = DockerArchiveImage.Open(_dir["owned.tar"], null);
        foreach (var layer in image.Layers)
        {
            using var reader = new TarArchiveReader(layer.OpenAsync(default).Result);
            while (reader.Next() is { } e) owners.Add((e.Entry.Uid, e.Entry.Gid));
        }
        owners.Should().Equal((4242L, 4343L));
        // The config names the rewritten layers.
        Must("skopeo", "inspect", $"docker-archive:{_dir["owned.tar"]}").Should().Contain(image.Layers[0].DiffId.ToString());
    }

    [Fact]
    public void The_plugins_dir_option_adds_a_folder_too()
    {
        var r = Occy("--plugins-dir", SamplePlugins, "plugins");
        r.Stdout.Should().Contain("set-owner");
    }

    [Fact]
    public void A_path_to_a_plugin_dll_is_taken_and_a_folder_without_plugins_is_said_to_hold_none()
    {
        string dll = Path.Combine(SamplePlugins, "Occystrap.Samples.SetOwner", "Occystrap.Samples.SetOwner.dll");
        var r = Occy("--plugins-dir", dll, "process", $"tar://{SampleImage}", $"tar://{_dir["owned.tar"]}", "-f", "set-owner:uid=7");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().NotContain("warning");

        Directory.CreateDirectory(_dir["empty"]);
        File.WriteAllText(_dir["empty/readme.txt"], "no plugin here");
        var empty = Occy("--plugins-dir", _dir["empty"], "plugins");
        empty.Code.Should().Be(0, empty.ToString());
        empty.Stderr.Should().Contain($"plugin folder {_dir["empty"]} holds no plugin").And.Contain("NAME/NAME.dll");
    }

    [Fact]
    public void Two_plugins_claiming_one_name_is_an_error_naming_both()
    {
        foreach (string copy in new[] { "a", "b" })
            CopyDir(Path.Combine(SamplePlugins, "Occystrap.Samples.SetOwner"), Path.Combine(_dir[copy], "Occystrap.Samples.SetOwner"));
        var env = new Dictionary<string, string?> { ["OCCYSTRAP_PLUGIN_PATH"] = $"{_dir["a"]}:{_dir["b"]}" };
        var r = OccyWith(env, "plugins");
        r.Code.Should().Be(1, r.ToString());
        r.Stderr.Should().Contain("'set-owner' is claimed by two plugins")
            .And.Contain(_dir["a"]).And.Contain(_dir["b"]);
        // plugins is the command that diagnoses it: the whole listing is printed first, with the conflict marked.
        r.Stdout.Should().Contain("Input schemes:").And.Contain("  tar - ").And.Contain("  set-owner - ");
        r.Stdout.Split('\n').Should().Contain(l => l.StartsWith("  CONFLICT: ") && l.Contains(_dir["a"]) && l.Contains(_dir["b"]));
        var json = OccyWith(env, "-O", "json", "plugins");
        json.Code.Should().Be(1, json.ToString());
        System.Text.Json.Nodes.JsonNode.Parse(json.Stdout)!["conflicts"]!.AsArray().Should().ContainSingle();
        // Any other command still stops on it, naming both.
        var process = OccyWith(env, "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}");
        process.Code.Should().Be(1, process.ToString());
        process.Stderr.Should().Contain("'set-owner' is claimed by two plugins");
    }

    [Fact]
    public void A_plugin_that_fails_to_load_is_named_in_a_warning_and_the_rest_still_work()
    {
        Directory.CreateDirectory(_dir["bad/Broken"]);
        File.WriteAllText(_dir["bad/Broken/Broken.dll"], "not an assembly");
        var r = OccyWith(new Dictionary<string, string?> { ["OCCYSTRAP_PLUGIN_PATH"] = _dir["bad"] },
            "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        r.Stderr.Should().Contain("warning: plugin").And.Contain("Broken.dll");
        File.Exists(_dir["out.tar"]).Should().BeTrue();
    }

    [Fact]
    public void Legacy_commands_say_what_they_run()
    {
        var r = Occy("docker-to-tarfile", "busybox", "latest", _dir["x.tar"], "--normalize-timestamps", "--timestamp", "5");
        r.Stderr.Should().Contain("'docker-to-tarfile' is deprecated; it runs: occystrap process docker://busybox:latest tar://" + _dir["x.tar"] + " -f normalize-timestamps:ts=5");

        // The notice is a warning: --quiet leaves it out, and the command's result stays.
        var quiet = Occy("-q", "search-layers-tarfile", SampleImage, "*.txt", "--script-friendly");
        quiet.Code.Should().Be(0, quiet.ToString());
        quiet.Stderr.Should().BeEmpty();
        quiet.Stdout.Should().Contain("usr/share/sample/hello.txt");
    }

    [Fact]
    public void Help_describes_every_command()
    {
        var r = Occy("--help");
        r.Code.Should().Be(0);
        r.Stdout.Should().Contain("process").And.Contain("search").And.Contain("plugins").And.Contain("--layer-cache");
        Occy("process", "--help").Stdout.Should().Contain("--filter");
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
