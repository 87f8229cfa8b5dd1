using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;

namespace Occystrap.Filters.Search;

/// <summary>
/// <c>search:pattern=P[,regex=true][,script_friendly=true]</c>: lists the entries whose path matches,
/// on stdout once the image has passed, and changes nothing. The <c>search</c> command uses it alone.
/// </summary>
[FilterPlugin("search")]
public sealed class SearchFilter : IFilterPlugin
{
    public string Description => "Print the files whose path matches a glob or regex; the image passes unchanged";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("pattern", OptionType.String, "Glob (** spans folders; no / matches the file name) or, with regex=true, a regex searched in the path") { Required = true },
        new("regex", OptionType.Bool, "Treat pattern as a regular expression") { Default = false },
        new("script_friendly", OptionType.Bool, "One match per line: image:tag:layer:path") { Default = false, Aliases = ["script-friendly"] },
    ];

    public IImageFilter Create(PluginInvocation invocation)
    {
        string pattern = invocation.Options.GetString("pattern")!;
        Func<string, bool> match;
        if (invocation.Options.GetBool("regex") == true)
        {
            Regex regex;
            try
            {
                regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"filter 'search': '{pattern}' is not a valid regular expression: {e.Message}");
            }
            match = regex.IsMatch;
        }
        else
        {
            var glob = new PathGlob(pattern);
            match = glob.IsMatch;
        }
        return new Filter(match, invocation.Options.GetBool("script_friendly") == true, invocation.Report, invocation.Structured);
    }

    private sealed record Match(string Path, EntryKind Kind, long Size, string? Link);

    private sealed class Filter(Func<string, bool> match, bool scriptFriendly, TextWriter output, IStructuredReport? structured) : IImageFilter
    {
        private List<Match>[]? _matches;
        private ImageName _name = ImageName.Unnamed;

        public bool ObservesLayers => true;

        public ValueTask BeginAsync(ImageName name, ReadOnlyMemory<byte> config, CancellationToken cancellationToken)
        {
            _name = name;
            return ValueTask.CompletedTask;
        }

        public ILayerEntryFilter? ForLayer(LayerInfo layer)
        {
            lock (this)
            {
                _matches ??= new List<Match>[layer.Count];
                var list = _matches[layer.Index] = [];
                return new Look(match, list);
            }
        }

        public ValueTask<ReadOnlyMemory<byte>> EndAsync(ImageResult image, CancellationToken cancellationToken)
        {
            var matches = _matches ?? [];
            int total = 0, layers = 0;
            for (int i = 0; i < matches.Length; i++)
            {
                var found = matches[i];
                if (found is null || found.Count == 0) continue;
                // A layer listed twice in the image is searched once.
                if (Enumerable.Range(0, i).Any(j => image.Layers[j].DiffId == image.Layers[i].DiffId)) continue;
                string layer = image.Layers[i].DiffId.Hex;
                total += found.Count;
                layers++;
                if (structured is not null)
                {
                    // JSON escapes every control character itself: names go in as they are.
                    foreach (var m in found)
                    {
                        var item = new JsonObject
                        {
                            ["image"] = _name.IsUnnamed ? null : _name.ToString(),
                            ["layer"] = image.Layers[i].DiffId.ToString(),
                            ["path"] = m.Path,
                            ["type"] = Kind(m.Kind),
                        };
                        if (m.Kind == EntryKind.File) item["size"] = m.Size;
                        if (m.Link is not null) item["link"] = m.Link;
                        structured.Add(item);
                    }
                    continue;
                }
                if (scriptFriendly)
                {
                    string name = _name.IsUnnamed ? "unknown:unknown" : $"{_name.Repository}:{_name.Tag ?? _name.Digest ?? "latest"}";
                    foreach (var m in found) output.WriteLine($"{Escape(name)}:{layer}:{Escape(m.Path)}");
                    continue;
                }
                output.WriteLine($"Layer: {layer}");
                foreach (var m in found) output.WriteLine("  " + Describe(m));
                output.WriteLine();
            }
            if (structured is not null) return ValueTask.FromResult(image.Config);
            if (!scriptFriendly)
                output.WriteLine(total == 0
                    ? "No matches found."
                    : $"Found {total} {(total == 1 ? "match" : "matches")} in {layers} {(layers == 1 ? "layer" : "layers")}.");
            output.Flush();
            return ValueTask.FromResult(image.Config);
        }

        /// <summary>
        /// Names are printed with control characters escaped, reversibly: <c>\\</c> for a backslash,
        /// <c>\n</c>, <c>\t</c>, <c>\r</c>, and <c>\xHH</c> for every other control character (C0, DEL, C1), so a
        /// name can neither forge a result line nor send escape sequences to a terminal.
        /// </summary>
        internal static string Escape(string text)
        {
            if (!text.Any(c => c == '\\' || char.IsControl(c))) return text;
            var b = new System.Text.StringBuilder(text.Length + 8);
            foreach (char c in text)
                b.Append(c switch
                {
                    '\\' => "\\\\",
                    '\n' => "\\n",
                    '\t' => "\\t",
                    '\r' => "\\r",
                    _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                    _ => c.ToString(),
                });
            return b.ToString();
        }

        private static string Kind(EntryKind kind) => kind switch
        {
            EntryKind.File => "file",
            EntryKind.Directory => "directory",
            EntryKind.Symlink => "symlink",
            EntryKind.HardLink => "hardlink",
            EntryKind.Fifo => "fifo",
            EntryKind.CharacterDevice => "character device",
            EntryKind.BlockDevice => "block device",
            _ => "unknown",
        };

        private static string Describe(Match m) => Escape(m.Kind switch
        {
            EntryKind.File => $"{m.Path} (file, {m.Size} bytes)",
            EntryKind.Directory => $"{m.Path} (directory)",
            EntryKind.Symlink => $"{m.Path} -> {m.Link} (symlink)",
            EntryKind.HardLink => $"{m.Path} -> {m.Link} (hardlink)",
            EntryKind.Fifo => $"{m.Path} (fifo)",
            EntryKind.CharacterDevice => $"{m.Path} (character device)",
            EntryKind.BlockDevice => $"{m.Path} (block device)",
            _ => $"{m.Path} (unknown)",
        });
    }

    private sealed class Look(Func<string, bool> match, List<Match> found) : ILayerEntryFilter
    {
        public bool ChangesEntries => false;

        public EntryAction Process(LayerEntry entry)
        {
            string path = PathGlob.Normalize(entry.Path);
            if (match(path)) found.Add(new Match(entry.Path, entry.Kind, entry.Size, entry.LinkTarget));
            return EntryAction.Keep;
        }
    }
}
