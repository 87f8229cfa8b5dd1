using System.Reflection;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;

namespace Occystrap.Host.Plugins;

/// <summary>One declared plugin: loaded, from its own load context, the first time it is used.</summary>
internal sealed class PluginEntry<T> where T : class, IPlugin
{
    private readonly Lazy<T> _plugin;

    public PluginEntry(PluginDeclaration declaration, Func<PluginDeclaration, IPlugin> load)
    {
        Declaration = declaration;
        _plugin = new Lazy<T>(() => load(declaration) as T
            ?? throw new OccystrapException($"plugin '{declaration.Name}' in {declaration.AssemblyPath}: {declaration.TypeName} is declared as {Article(declaration.Role)} but does not implement {typeof(T).Name}"));
    }

    public PluginDeclaration Declaration { get; }
    public string Name => Declaration.Name;
    public string AssemblyPath => Declaration.AssemblyPath;
    public T Plugin => _plugin.Value;

    private static string Article(PluginRole role) => role == PluginRole.Input ? "an input" : role == PluginRole.Output ? "an output" : "a filter";
}

/// <summary>
/// Finds plugins in folders (one sub-folder per plugin, <c>NAME/NAME.dll</c>) and registers inputs and
/// outputs by scheme and filters by name from their declarations, without loading them. A plugin is
/// loaded when it is first used, in its own load context that shares the contract assemblies with the host.
/// </summary>
internal sealed class PluginCatalog
{
    // The assemblies whose types cross the host/plugin boundary: one copy, the host's, for everyone.
    private static readonly Lazy<IReadOnlySet<string>> Shared = new(() => PluginLoadContext.SharedNames(
        [typeof(IPlugin).Assembly, typeof(TarArchiveReader).Assembly, typeof(Registry.RegistryClient).Assembly, typeof(ILogger).Assembly]));

    private readonly Dictionary<string, PluginEntry<IInputPlugin>> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PluginEntry<IOutputPlugin>> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PluginEntry<IFilterPlugin>> _filters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Assembly> _assemblies = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, PluginEntry<IInputPlugin>> Inputs => _inputs;
    public IReadOnlyDictionary<string, PluginEntry<IOutputPlugin>> Outputs => _outputs;
    public IReadOnlyDictionary<string, PluginEntry<IFilterPlugin>> Filters => _filters;

    /// <summary>Names claimed twice in one role, each as one line that names both assemblies (the first one keeps the name).</summary>
    public IReadOnlyList<string> Conflicts => _conflicts;

    private readonly List<string> _conflicts = [];

    /// <summary>The folders searched: beside the executable, then <c>OCCYSTRAP_PLUGIN_PATH</c>, then <c>--plugins-dir</c>.</summary>
    public static IEnumerable<string> SearchFolders(IEnumerable<string> extra)
    {
        yield return Path.Combine(AppContext.BaseDirectory, "plugins");
        string? env = Environment.GetEnvironmentVariable("OCCYSTRAP_PLUGIN_PATH");
        if (!string.IsNullOrEmpty(env))
            foreach (string p in env.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)) yield return p;
        foreach (string p in extra) yield return p;
    }

    /// <param name="lenient">Record conflicts in <see cref="Conflicts"/> instead of failing on the first (for the listing
    /// that a user runs to find them).</param>
    public static PluginCatalog Load(IEnumerable<string> folders, ILogger log, bool lenient = false)
    {
        var catalog = new PluginCatalog();
        var index = PluginIndex.Open();
        foreach (string dll in FindPluginAssemblies(folders, log))
        {
            IReadOnlyList<PluginDeclaration> declarations;
            try
            {
                declarations = index.Read(dll);
            }
            catch (Exception e) when (e is BadImageFormatException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                log.LogWarning("plugin {Plugin} could not be read and is ignored: {Reason}", dll, e.Message);
                continue;
            }
            if (declarations.Count == 0)
                log.LogWarning("plugin {Plugin} declares no plugin ([InputPlugin], [OutputPlugin] or [FilterPlugin]) and is ignored", dll);
            foreach (var d in declarations)
            {
                switch (d.Role)
                {
                    case PluginRole.Input: catalog.Register(d, catalog._inputs, "input scheme"); break;
                    case PluginRole.Output: catalog.Register(d, catalog._outputs, "output scheme"); break;
                    default: catalog.Register(d, catalog._filters, "filter"); break;
                }
            }
        }
        index.Save();
        if (!lenient && catalog._conflicts.Count > 0) throw new PluginConflictException(catalog._conflicts[0]);
        return catalog;
    }

    private void Register<T>(PluginDeclaration declaration, Dictionary<string, PluginEntry<T>> into, string role) where T : class, IPlugin
    {
        string name = NormalizeName(declaration.Name);
        if (into.TryGetValue(name, out var existing))
        {
            _conflicts.Add($"the {role} '{name}' is claimed by two plugins: {existing.AssemblyPath} and {declaration.AssemblyPath}; remove one of them");
            return;
        }
        into[name] = new PluginEntry<T>(declaration with { Name = name }, Instantiate);
    }

    private IPlugin Instantiate(PluginDeclaration d)
    {
        try
        {
            Assembly assembly;
            lock (_assemblies)
            {
                if (!_assemblies.TryGetValue(d.AssemblyPath, out assembly!))
                {
                    var context = new PluginLoadContext(d.AssemblyPath, Shared.Value);
                    _assemblies[d.AssemblyPath] = assembly = context.LoadFromAssemblyPath(d.AssemblyPath);
                }
            }
            var type = assembly.GetType(d.TypeName, throwOnError: true)!;
            return Activator.CreateInstance(type) as IPlugin
                ?? throw new OccystrapException($"plugin '{d.Name}' in {d.AssemblyPath}: {d.TypeName} does not implement IPlugin");
        }
        catch (OccystrapException)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new OccystrapException($"plugin '{d.Name}' from {d.AssemblyPath} could not be loaded: {Unwrap(e).Message}", e);
        }
    }

    public static string NormalizeName(string name) => name.Trim().ToLowerInvariant().Replace('_', '-');

    private static IEnumerable<string> FindPluginAssemblies(IEnumerable<string> folders, ILogger log)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string folder in folders)
        {
            // A path to a plugin's DLL is taken as it is (its dependencies resolve from its folder).
            if (folder.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) && File.Exists(folder))
            {
                if (seen.Add(Path.GetFullPath(folder))) yield return Path.GetFullPath(folder);
                continue;
            }
            if (!Directory.Exists(folder))
            {
                if (folder != Path.Combine(AppContext.BaseDirectory, "plugins"))
                    log.LogWarning("plugin folder {Folder} does not exist", folder);
                continue;
            }
            // A folder is either one plugin (NAME/NAME.dll) or a folder of plugin folders.
            IEnumerable<string> candidates = File.Exists(Path.Combine(folder, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))) + ".dll"))
                ? new[] { folder }
                : Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal);
            int found = 0;
            foreach (string dir in candidates)
            {
                string full = Path.GetFullPath(dir);
                string dll = Path.Combine(full, Path.GetFileName(Path.TrimEndingDirectorySeparator(full)) + ".dll");
                if (!File.Exists(dll))
                {
                    log.LogWarning("plugin folder {Folder} has no {Dll}; ignored", full, Path.GetFileName(dll));
                    continue;
                }
                found++;
                if (seen.Add(dll)) yield return dll;
            }
            if (found == 0 && folder != Path.Combine(AppContext.BaseDirectory, "plugins"))
                log.LogWarning("plugin folder {Folder} holds no plugin: it should hold one folder per plugin, NAME/NAME.dll with the "
                    + "plugin's other files beside it (what dotnet publish writes), or be such a NAME folder itself", folder);
        }
    }

    private static Exception Unwrap(Exception e) => e is TargetInvocationException { InnerException: { } inner } ? inner : e;
}

internal sealed class PluginConflictException(string message) : OccystrapException(message);
