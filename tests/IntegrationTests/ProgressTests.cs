using System.Text;
using System.Text.RegularExpressions;
using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>
/// What the progress display tells, on a real pseudo-terminal (through script(1)) and off one: lines
/// stay whole under the live bars, a failed layer shows as failed, plain logs get start, percent and end
/// lines, a retry warning is given once, --quiet and NO_COLOR are honoured.
/// </summary>
public sealed partial class ProgressTests : IClassFixture<PlainRegistry>, IDisposable
{
    private readonly TempDir _dir = new();
    private readonly PlainRegistry _registry;
    private readonly string _repo;

    public ProgressTests(PlainRegistry registry)
    {
        _registry = registry;
        _repo = $"{registry.Server.Address}/occy/progress-{Guid.NewGuid().ToString("N")[..8]}";
        Archives.Random(_dir["src.tar"], "occy/progress:1", 3_000_000, 1_000_000);
        var push = Occy("--insecure", "process", $"tar://{_dir["src.tar"]}", $"registry://{_repo}:src");
        push.Code.Should().Be(0, push.ToString());
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>Runs occystrap with stdout and stderr on a pseudo-terminal; returns the exit code and everything written to it.</summary>
    private static (int Code, string Raw) OnTerminal(IDictionary<string, string?>? env, params string[] args)
    {
        string command = string.Join(' ', new[] { Tooling.Occystrap }.Concat(args).Select(Quote));
        var vars = new Dictionary<string, string?> { ["TERM"] = "xterm", ["COLUMNS"] = "160", ["LINES"] = "40" };
        if (env is not null) foreach (var (k, v) in env) vars[k] = v;
        var r = Run("script", ["-qefc", command, "/dev/null"], vars);
        return (r.Code, r.Stdout);
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    [Fact]
    public void On_a_terminal_bars_are_drawn_and_a_warning_and_the_final_line_stay_whole()
    {
        // Slow blob downloads keep the bars live for a while; the first download breaks off halfway,
        // so that a retry warning is logged while the bars are on screen.
        using var proxy = new FaultProxy(_registry.Server.Address, resetBlobs: 1, resetAfterBytes: 400_000) { BlobBytesPerSecond = 2_000_000 };
        var (code, raw) = OnTerminal(null, "--insecure", "-j", "2", "process",
            $"registry://{proxy.Address}/{_repo[(_repo.IndexOf('/') + 1)..]}:src", $"registry://{_repo}-copy:1");
        code.Should().Be(0, raw);
        proxy.Resets.Should().Be(1);
        raw.Should().Contain("\u001b[J", "the live block is erased and redrawn");
        raw.Should().MatchRegex(@"\[=+>? *\]", "bars were drawn");
        var screen = Screen.Render(raw);
        string all = string.Join('\n', screen);
        screen.Should().Contain(l => l.StartsWith("occystrap: warning: 127.0.0.1:", StringComparison.Ordinal) && Regex.IsMatch(l, "; (retrying in|resuming at byte) "), all);
        screen.Should().Contain(l => Regex.IsMatch(l, $@"^occystrap: pushed {Regex.Escape(_repo)}-copy:1 \(sha256:[0-9a-f]{{64}}\)$"), all);
        screen.Count(l => Regex.IsMatch(l, @"^occystrap: layer [12]/2 [0-9a-f]{12}: done, ")).Should().Be(2, all);
        screen.Should().NotContain(l => l.Contains("[="), "no bar is left behind once the run ends:\n" + all);
        raw.Should().Contain("\u001b[32mdone\u001b[0m", "done is green on a colour terminal");
    }

    [Fact]
    public void On_a_terminal_a_failed_layer_shows_as_failed_and_the_error_names_it()
    {
        string bad = _dir["bad.tar"];
        Archives.Random(bad, "occy/bad:1", 2_000_000);
        byte[] archive = File.ReadAllBytes(bad);
        archive[archive.Length / 2] ^= 0xFF; // inside the layer's file data
        File.WriteAllBytes(bad, archive);

        var (code, raw) = OnTerminal(new Dictionary<string, string?> { ["NO_COLOR"] = "1" }, "process", $"tar://{bad}", $"tar://{_dir["out.tar"]}");
        code.Should().Be(1, raw);
        var screen = Screen.Render(raw);
        string all = string.Join('\n', screen);
        var failed = screen.Should().ContainSingle(l => l.Contains(": failed after "), all).Which;
        string label = Regex.Match(failed, @"layer 1/1 [0-9a-f]{12}").Value;
        label.Should().NotBeEmpty(all);
        screen.Should().NotContain(l => l.Contains(label + ": done"), all);
        screen.Should().Contain(l => l.StartsWith("occystrap: error: ", StringComparison.Ordinal) && l.Contains(label + " of "), all);
        raw.Should().NotContain("\u001b[31m", "NO_COLOR turns colour off");
        File.Exists(_dir["out.tar"]).Should().BeFalse("a failed run leaves no partial output");
    }

    [Fact]
    public void Off_a_terminal_each_layer_has_start_progress_and_end_lines()
    {
        // 3 MB at 500 kB/s: six seconds, so a 5-second progress line comes.
        using var proxy = new FaultProxy(_registry.Server.Address) { BlobBytesPerSecond = 500_000 };
        var r = Occy("--insecure", "process", $"registry://{proxy.Address}/{_repo[(_repo.IndexOf('/') + 1)..]}:src", $"tar://{_dir["pulled.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        var lines = r.Stderr.Split('\n');
        lines.Count(l => Regex.IsMatch(l, @"^occystrap: layer [12]/2 [0-9a-f]{12}: started, [0-9.]+ (KiB|MiB)$")).Should().Be(2, r.Stderr);
        lines.Should().Contain(l => Regex.IsMatch(l, @"^occystrap: layer [12]/2 [0-9a-f]{12}: \d{1,3}% \([0-9.]+ (B|KiB|MiB) of [0-9.]+ (KiB|MiB)\), [0-9.]+ (B|KiB|MiB)/s$"), r.Stderr);
        lines.Count(l => Regex.IsMatch(l, @"^occystrap: layer [12]/2 [0-9a-f]{12}: done, [0-9.]+ (KiB|MiB) in [0-9.]+ s \([0-9.]+ (KiB|MiB)/s\)$")).Should().Be(2, r.Stderr);
        r.Stderr.Should().NotContain("\u001b", "no escape codes go to a log");
    }

    [Fact]
    public void The_same_retry_failure_on_the_same_host_is_warned_about_once()
    {
        // Both layers' downloads break off once, with the same failure.
        using var proxy = new FaultProxy(_registry.Server.Address, resetBlobs: 2, resetAfterBytes: 100_000);
        string from = $"registry://{proxy.Address}/{_repo[(_repo.IndexOf('/') + 1)..]}:src";
        var r = Occy("--insecure", "-j", "2", "process", from, $"tar://{_dir["a.tar"]}");
        r.Code.Should().Be(0, r.ToString());
        proxy.Resets.Should().Be(2);
        r.Stderr.Split('\n').Count(l => Regex.IsMatch(l, "; (retrying in|resuming at byte) ")).Should().Be(1, r.Stderr);

        using var again = new FaultProxy(_registry.Server.Address, resetBlobs: 2, resetAfterBytes: 100_000);
        var verbose = Occy("--insecure", "--verbose", "-j", "2", "process", $"registry://{again.Address}/{_repo[(_repo.IndexOf('/') + 1)..]}:src", $"tar://{_dir["b.tar"]}");
        verbose.Code.Should().Be(0, verbose.ToString());
        verbose.Stderr.Split('\n').Count(l => Regex.IsMatch(l, "; (retrying in|resuming at byte) ")).Should().Be(2, "--verbose shows the repeats as debug lines:\n" + verbose.Stderr);
    }

    [Fact]
    public void Quiet_prints_only_the_result_and_errors()
    {
        var ok = Occy("--quiet", "process", $"tar://{_dir["src.tar"]}", $"tar://{_dir["q.tar"]}");
        ok.Code.Should().Be(0, ok.ToString());
        ok.Stderr.Should().BeEmpty();
        ok.Stdout.Should().MatchRegex("^sha256:[0-9a-f]{64}\n$");

        var (code, raw) = OnTerminal(null, "-q", "process", $"tar://{_dir["src.tar"]}", $"tar://{_dir["q2.tar"]}");
        code.Should().Be(0, raw);
        Screen.Render(raw).Should().ContainSingle().Which.Should().MatchRegex("^sha256:[0-9a-f]{64}$");

        var bad = Occy("-q", "--compression", "gzip", "process", $"tar://{_dir["missing.tar"]}", $"tar://{_dir["q3.tar"]}");
        bad.Code.Should().Be(1, bad.ToString());
        bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Which.Should().StartWith("occystrap: error: ");
    }

    /// <summary>
    /// A small terminal: enough of the cursor movement and erasing that the display uses to show what a
    /// user would see at the end, one string per screen line.
    /// </summary>
    private static partial class Screen
    {
        public static List<string> Render(string raw)
        {
            var rows = new List<StringBuilder> { new() };
            int row = 0, col = 0;
            for (int i = 0; i < raw.Length; i++)
            {
                char c = raw[i];
                if (c == '\u001b')
                {
                    var m = Csi().Match(raw, i);
                    if (m.Success && m.Index == i)
                    {
                        int n = int.TryParse(m.Groups[1].Value, out int v) ? v : 1;
                        switch (m.Groups[2].Value)
                        {
                            case "A": row = Math.Max(0, row - n); break;
                            case "J":
                                Cut(rows[row], col);
                                rows.RemoveRange(row + 1, rows.Count - row - 1);
                                break;
                            case "K" when m.Groups[1].Value is "2": rows[row].Clear(); break;
                            case "K": Cut(rows[row], col); break;
                        }
                        i += m.Length - 1;
                    }
                    else if (i + 1 < raw.Length && raw[i + 1] is '=' or '>') i++;
                    continue;
                }
                switch (c)
                {
                    case '\r': col = 0; break;
                    case '\n':
                        row++;
                        if (row == rows.Count) rows.Add(new StringBuilder());
                        break;
                    default:
                        var line = rows[row];
                        if (line.Length < col) line.Append(' ', col - line.Length);
                        if (col < line.Length) line[col] = c;
                        else line.Append(c);
                        col++;
                        break;
                }
            }
            return rows.Select(r => r.ToString().TrimEnd()).Where(r => r.Length > 0).ToList();
        }

        private static void Cut(StringBuilder line, int col)
        {
            if (col < line.Length) line.Length = col;
        }

        [GeneratedRegex(@"\u001b\[\??([0-9;]*)([A-Za-z])")]
        private static partial Regex Csi();
    }
}
