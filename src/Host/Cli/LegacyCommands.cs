using Microsoft.Extensions.Logging;
using System.CommandLine;

namespace Occystrap.Host.Cli;

/// <summary>
/// The commands of older releases. Each prints one deprecation line naming its replacement on stderr,
/// then runs that replacement.
/// </summary>
internal static class LegacyCommands
{
    private sealed record Shape(string Name, string[] Args, bool Timestamps = false, bool Extract = false, bool Socket = false, bool Search = false);

    private static readonly Shape[] Shapes =
    [
        new("fetch-to-tarfile", ["REGISTRY", "IMAGE", "TAG", "TARFILE"], Timestamps: true),
        new("fetch-to-extracted", ["REGISTRY", "IMAGE", "TAG", "PATH"], Extract: true),
        new("fetch-to-oci", ["REGISTRY", "IMAGE", "TAG", "PATH"]),
        new("fetch-to-mounts", ["REGISTRY", "IMAGE", "TAG", "PATH"]),
        new("tarfile-to-extracted", ["TARFILE", "PATH"], Extract: true),
        new("docker-to-tarfile", ["IMAGE", "TAG", "TARFILE"], Timestamps: true, Socket: true),
        new("docker-to-extracted", ["IMAGE", "TAG", "PATH"], Extract: true, Socket: true),
        new("docker-to-oci", ["IMAGE", "TAG", "PATH"], Socket: true),
        new("search-layers", ["REGISTRY", "IMAGE", "TAG", "PATTERN"], Search: true),
        new("search-layers-tarfile", ["TARFILE", "PATTERN"], Search: true),
        new("search-layers-docker", ["IMAGE", "TAG", "PATTERN"], Socket: true, Search: true),
        new("recreate-image", ["PATH", "IMAGE", "TAG", "TARFILE"], Timestamps: true),
    ];

    public static IEnumerable<Command> Build(CommandRunner run)
    {
        foreach (var shape in Shapes)
        {
            var args = shape.Args.Select(a => new Argument<string>(a)).ToArray();
            // Deprecated: they work, but are listed only by 'occystrap help legacy'.
            var command = new Command(shape.Name, $"Deprecated: use '{Replacement(shape)}'") { Hidden = true };
            foreach (var a in args) command.Arguments.Add(a);
            var normalize = new Option<bool>("--normalize-timestamps") { Description = "Apply the normalize-timestamps filter" };
            var timestamp = new Option<long?>("--timestamp") { Description = "Timestamp for --normalize-timestamps" };
            var unique = new Option<bool>("--use-unique-names") { Description = "dir:// unique_names=true" };
            var expand = new Option<bool>("--expand") { Description = "dir:// expand=true" };
            var socket = new Option<string?>("--socket") { Description = "Docker or Podman socket path" };
            var regex = new Option<bool>("--regex") { Description = "PATTERN is a regular expression" };
            var scriptFriendly = new Option<bool>("--script-friendly") { Description = "Machine-parseable output" };
            if (shape.Timestamps) { command.Options.Add(normalize); command.Options.Add(timestamp); }
            if (shape.Extract) { command.Options.Add(unique); command.Options.Add(expand); }
            if (shape.Socket) command.Options.Add(socket);
            if (shape.Search) { command.Options.Add(regex); command.Options.Add(scriptFriendly); }

            command.SetAction((r, ct) => run(r, ct, (app, t) =>
            {
                var v = shape.Args.Select((name, i) => (name, value: r.GetValue(args[i])!)).ToDictionary(p => p.name, p => p.value);
                string socketQuery = shape.Socket && r.GetValue(socket) is { } s ? "?socket=" + Uri.EscapeDataString(s) : "";
                string source = shape.Name switch
                {
                    var n when n.StartsWith("fetch-to-", StringComparison.Ordinal) || n == "search-layers" => $"registry://{v["REGISTRY"]}/{v["IMAGE"]}:{v["TAG"]}",
                    var n when n.StartsWith("docker-", StringComparison.Ordinal) || n == "search-layers-docker" => $"docker://{v["IMAGE"]}:{v["TAG"]}{socketQuery}",
                    "recreate-image" => $"dir://{v["PATH"]}?image={Uri.EscapeDataString(v["IMAGE"] + ":" + v["TAG"])}",
                    _ => $"tar://{v["TARFILE"]}",
                };
                if (shape.Search)
                {
                    Deprecated(app, shape.Name, $"search{(r.GetValue(regex) ? " --regex" : "")}{(r.GetValue(scriptFriendly) ? " --script-friendly" : "")} {source} {v["PATTERN"]}");
                    return Commands.SearchAsync(app, source, v["PATTERN"], r.GetValue(regex), r.GetValue(scriptFriendly), t);
                }
                var query = new List<string>();
                if (shape.Extract && r.GetValue(unique)) query.Add("unique_names=true");
                if (shape.Extract && r.GetValue(expand)) query.Add("expand=true");
                string suffix = query.Count > 0 ? "?" + string.Join("&", query) : "";
                string destination = shape.Name switch
                {
                    "recreate-image" => $"tar://{v["TARFILE"]}?name={Uri.EscapeDataString(v["IMAGE"] + ":" + v["TAG"])}",
                    var n when n.EndsWith("-tarfile", StringComparison.Ordinal) => $"tar://{v["TARFILE"]}",
                    var n when n.EndsWith("-oci", StringComparison.Ordinal) => $"oci://{v["PATH"]}",
                    var n when n.EndsWith("-mounts", StringComparison.Ordinal) => $"mounts://{v["PATH"]}",
                    _ => $"dir://{v["PATH"]}{suffix}",
                };
                if (shape.Timestamps && r.GetValue(timestamp) is not null && !r.GetValue(normalize))
                    throw new Abstractions.UsageException("--timestamp only applies with --normalize-timestamps");
                var filters = new List<string>();
                if (shape.Timestamps && r.GetValue(normalize))
                    filters.Add(r.GetValue(timestamp) is { } ts ? $"normalize-timestamps:ts={ts}" : "normalize-timestamps");
                Deprecated(app, shape.Name, $"process {source} {destination}{string.Concat(filters.Select(f => $" -f {f}"))}");
                return Commands.ProcessAsync(app, source, destination, filters, t);
            }));
            yield return command;
        }
    }

    /// <summary>The 'help legacy' topic: each deprecated command, its arguments and what it runs now.</summary>
    public static string Topic() =>
        "Deprecated commands (they still work, and say what they run):\n\n" +
        string.Concat(Shapes.Select(s => $"  {s.Name} {string.Join(' ', s.Args)}\n      use: {Replacement(s)}\n"));

    private static string Replacement(Shape shape) => shape.Search ? "occystrap search SOURCE PATTERN" : "occystrap process SOURCE DESTINATION";

    /// <summary>A warning, so --quiet leaves it out as it leaves out every other.</summary>
    private static void Deprecated(App app, string name, string replacement) =>
        app.Log.LogWarning("'{Name}' is deprecated; it runs: occystrap {Replacement}", name, Abstractions.SecretText.Redact(replacement));
}
