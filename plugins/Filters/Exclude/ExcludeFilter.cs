using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;

namespace Occystrap.Filters.Exclude;

/// <summary>
/// <c>exclude:pattern=P1,P2,...</c>: drops entries whose path matches a pattern, and everything under
/// a dropped directory. A whiteout goes when the path it deletes is excluded; a hardlink whose target
/// was dropped is dropped too, so the layer stays valid.
/// </summary>
[FilterPlugin("exclude")]
public sealed class ExcludeFilter : IFilterPlugin
{
    public string Description => "Remove files matching glob patterns (** spans folders) from every layer";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("pattern", OptionType.List, "Comma-separated globs, e.g. **/.git/**,**/*.pyc") { Required = true },
    ];

    public IImageFilter Create(PluginInvocation invocation) =>
        new Filter(invocation.Options.GetList("pattern")!.Select(p => new PathGlob(p)).ToList(), invocation.Logger);

    private sealed class Filter(IReadOnlyList<PathGlob> globs, ILogger log) : IImageFilter
    {
        public ILayerEntryFilter? ForLayer(LayerInfo layer) => new LayerPass(globs, log, layer);
    }

    private sealed class LayerPass(IReadOnlyList<PathGlob> globs, ILogger log, LayerInfo layer) : ILayerEntryFilter
    {
        private readonly List<string> _droppedDirs = [];
        private readonly HashSet<string> _dropped = new(StringComparer.Ordinal);
        private int _count;

        public EntryAction Process(LayerEntry entry)
        {
            string path = PathGlob.Normalize(entry.Path);
            bool drop = Excluded(path)
                || (entry.IsWhiteout && WhitedOut(path) is { } target && Excluded(target))
                || (entry.Kind == EntryKind.HardLink && _dropped.Contains(PathGlob.Normalize(entry.LinkTarget ?? "")));
            if (!drop) return EntryAction.Keep;
            _dropped.Add(path);
            if (entry.Kind == EntryKind.Directory) _droppedDirs.Add(path + "/");
            _count++;
            return EntryAction.Drop;
        }

        public void Complete()
        {
            if (_count > 0) log.LogInformation("exclude: dropped {Count} entries from layer {Index}", _count, layer.Index + 1);
        }

        /// <summary>The path or any folder above it matches (the folder need not have an entry of its own in this layer).</summary>
        private bool Excluded(string path)
        {
            if (_droppedDirs.Any(d => path.StartsWith(d, StringComparison.Ordinal))) return true;
            for (int end = path.Length; end > 0; end = path.LastIndexOf('/', end - 1))
                if (globs.Any(g => g.IsMatch(path[..end]))) return true;
            return false;
        }

        private static string? WhitedOut(string path)
        {
            int slash = path.LastIndexOf('/');
            string name = path[(slash + 1)..];
            if (name == ".wh..wh..opq" || !name.StartsWith(".wh.", StringComparison.Ordinal)) return null;
            return path[..(slash + 1)] + name[4..];
        }
    }
}
