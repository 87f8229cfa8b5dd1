using System.Globalization;
using System.Text;

namespace Occystrap.Host.Plugins;

/// <summary>
/// Remembers what each plugin assembly declares, keyed by its full path, size and modification time, so that a
/// command reads no assembly metadata for plugins that did not change since the last run. A changed, new or
/// replaced assembly is read again. The index is a cache: when it is missing, unreadable or cannot be written,
/// declarations are read from the assemblies as before and nothing else changes.
/// </summary>
internal sealed class PluginIndex
{
    private const string Header = "occystrap plugin index 1";
    private readonly string? _path;
    private readonly Dictionary<string, (long Size, long Time, List<PluginDeclaration> Declarations)> _entries = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private bool _dirty;

    private PluginIndex(string? path) => _path = path;

    /// <summary>The index in the user's cache folder (<c>$XDG_CACHE_HOME/occystrap</c>, else <c>~/.cache/occystrap</c>);
    /// <c>OCCYSTRAP_PLUGIN_INDEX=off</c> turns it off.</summary>
    public static PluginIndex Open()
    {
        if (Environment.GetEnvironmentVariable("OCCYSTRAP_PLUGIN_INDEX") == "off") return new PluginIndex(null);
        string? cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (string.IsNullOrEmpty(cache) || !Path.IsPathRooted(cache))
        {
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            cache = string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache");
        }
        var index = new PluginIndex(cache is null ? null : Path.Combine(cache, "occystrap", "plugin-index"));
        index.Load();
        return index;
    }

    private void Load()
    {
        try
        {
            if (_path is null || !File.Exists(_path)) return;
            using var reader = new StreamReader(_path, Encoding.UTF8);
            if (reader.ReadLine() != Header) return;
            while (reader.ReadLine() is { } line)
            {
                // path, size, time, then role/name/type triples (none for an assembly that declares nothing)
                var f = line.Split('\t');
                if (f.Length < 3 || (f.Length - 3) % 3 != 0) return;
                var declarations = new List<PluginDeclaration>();
                for (int i = 3; i < f.Length; i += 3)
                {
                    if (!Enum.TryParse<PluginRole>(f[i], out var role)) return;
                    declarations.Add(new PluginDeclaration(role, f[i + 1], f[i + 2], f[0]));
                }
                _entries[f[0]] = (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), declarations);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            _entries.Clear();
        }
    }

    /// <summary>What <paramref name="dll"/> declares: from the index when its size and time match, else read from it.</summary>
    public IReadOnlyList<PluginDeclaration> Read(string dll)
    {
        var info = new FileInfo(dll);
        long size = info.Length, time = info.LastWriteTimeUtc.Ticks;
        _used.Add(dll);
        if (_entries.TryGetValue(dll, out var entry) && entry.Size == size && entry.Time == time) return entry.Declarations;
        var declarations = PluginDeclarations.Read(dll);
        _entries[dll] = (size, time, declarations.ToList());
        _dirty = true;
        return declarations;
    }

    /// <summary>Writes the index when something was read afresh (entries of assemblies not seen this run are kept).</summary>
    public void Save()
    {
        if (!_dirty || _path is null) return;
        string temp = _path + "." + Environment.ProcessId + ".tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            var text = new StringBuilder(Header).Append('\n');
            foreach (var (dll, (size, time, declarations)) in _entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                if (!_used.Contains(dll) && !File.Exists(dll)) continue;
                if (dll.Contains('\t') || dll.Contains('\n') || declarations.Any(d => (d.Name + d.TypeName).AsSpan().IndexOfAny('\t', '\n') >= 0)) continue;
                text.Append(dll).Append('\t').Append(size.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(time.ToString(CultureInfo.InvariantCulture));
                foreach (var d in declarations) text.Append('\t').Append(d.Role).Append('\t').Append(d.Name).Append('\t').Append(d.TypeName);
                text.Append('\n');
            }
            File.WriteAllText(temp, text.ToString());
            File.Move(temp, _path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (Exception) { /* a cache: nothing to report */ }
        }
    }
}
