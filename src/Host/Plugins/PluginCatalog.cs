using McMaster.NETCore.Plugins;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;

namespace Occystrap.Host.Plugins;

/// <summary>One registered plugin and the assembly file it came from.</summary>
internal sealed record PluginEntry<T>(T Plugin, string AssemblyPath) where T : IPlugin;

/// <summary>
/// Finds plugins in folders (one sub-folder per plugin, <c>NAME/NAME.dll</c>), loads each in its own
/// load context that shares the contract assemblies with the host, and registers inputs and outputs
/// by scheme and filters by name.
/// </summary>
internal sealed class PluginCatalog
{
    // The assemblies whose types cross the host/plugin boundary: one copy, the host's, for everyone.
    private static readonly Type[] SharedTypes = [typeof(IPlugin), typeof(TarArchiveReader), typeof(Registry.RegistryClient), typeof(ILogger)];

    private readonly Dictionary<string, PluginEntry<IInputPlugin>> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PluginEntry<IOutputPlugin>> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PluginEntry<IFilterPlugin>> _filters = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, PluginEntry<IInputPlugin>> Inputs => _inputs;
    public IReadOnlyDictionary<string, PluginEntry<IOutputPlugin>> Outputs => _outputs;
    public IReadOnlyDictionary<string, PluginEntry<IFilterPlugin>> Filters => _filters;

    /// <summary>The folders searched: beside the executable, then <c>OCCYSTRAP_PLUGIN_PATH</c>, then <c>--plugins-dir</c>.</summary>
    public static IEnumerable<string> SearchFolders(IEnumerable<string> extra)
    {
        yield return Path.Combine(AppContext.BaseDirectory, "plugins");
        string? env = Environment.GetEnvironmentVariable("OCCYSTRAP_PLUGIN_PATH");
        if (!string.IsNullOrEmpty(env))
            foreach (string p in env.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)) yield return p;
        foreach (string p in extra) yield return p;
    }

    public static PluginCatalog Load(IEnumerable<string> folders, ILogger log)
    {
        var catalog = new PluginCatalog();
        foreach (string dll in FindPluginAssemblies(folders, log))
        {
            IServiceProvider provider;
            try
            {
                var loader = PluginLoader.CreateFromAssemblyFile(dll, SharedTypes, c => c.PreferSharedTypes = true);
                var assembly = loader.LoadDefaultAssembly();
                var services = new ServiceCollection();
                services.Scan(scan => scan.FromAssemblies(assembly)
                    .AddClasses(c => c.AssignableTo<IInputPlugin>()).As<IInputPlugin>().WithSingletonLifetime()
                    .AddClasses(c => c.AssignableTo<IOutputPlugin>()).As<IOutputPlugin>().WithSingletonLifetime()
                    .AddClasses(c => c.AssignableTo<IFilterPlugin>()).As<IFilterPlugin>().WithSingletonLifetime());
                provider = services.BuildServiceProvider();
                catalog.Register(provider.GetServices<IInputPlugin>(), catalog._inputs, "input scheme", dll);
                catalog.Register(provider.GetServices<IOutputPlugin>(), catalog._outputs, "output scheme", dll);
                catalog.Register(provider.GetServices<IFilterPlugin>(), catalog._filters, "filter", dll);
            }
            catch (PluginConflictException)
            {
                throw;
            }
            catch (Exception e)
            {
                log.LogWarning("plugin {Plugin} could not be loaded and is ignored: {Reason}", dll, Unwrap(e).Message);
            }
        }
        return catalog;
    }

    private void Register<T>(IEnumerable<T> plugins, Dictionary<string, PluginEntry<T>> into, string role, string dll) where T : IPlugin
    {
        foreach (var plugin in plugins)
        {
            string name = NormalizeName(plugin.Name);
            if (into.TryGetValue(name, out var existing))
                throw new PluginConflictException($"the {role} '{name}' is claimed by two plugins: {existing.AssemblyPath} and {dll}; remove one of them");
            into[name] = new PluginEntry<T>(plugin, dll);
        }
    }

    public static string NormalizeName(string name) => name.Trim().ToLowerInvariant().Replace('_', '-');

    private static IEnumerable<string> FindPluginAssemblies(IEnumerable<string> folders, ILogger log)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string folder in folders)
        {
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
            foreach (string dir in candidates)
            {
                string full = Path.GetFullPath(dir);
                string dll = Path.Combine(full, Path.GetFileName(Path.TrimEndingDirectorySeparator(full)) + ".dll");
                if (!File.Exists(dll))
                {
                    log.LogWarning("plugin folder {Folder} has no {Dll}; ignored", full, Path.GetFileName(dll));
                    continue;
                }
                if (seen.Add(dll)) yield return dll;
            }
        }
    }

    private static Exception Unwrap(Exception e) => e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : e;
}

internal sealed class PluginConflictException(string message) : OccystrapException(message);
