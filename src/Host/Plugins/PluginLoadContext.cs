using System.Reflection;
using System.Runtime.Loader;

namespace Occystrap.Host.Plugins;

/// <summary>
/// The load context of one plugin: the contract assemblies (and what they reference that the host ships) come
/// from the host, so that there is one <c>IPlugin</c> for everyone; everything else resolves from the plugin's
/// own <c>deps.json</c> and folder, so plugins may use their own versions of any other library.
/// </summary>
internal sealed class PluginLoadContext(string mainAssembly, IReadOnlySet<string> shared)
    : AssemblyLoadContext($"plugin {Path.GetFileNameWithoutExtension(mainAssembly)}")
{
    private readonly AssemblyDependencyResolver _resolver = new(mainAssembly);

    protected override Assembly? Load(AssemblyName name)
    {
        // null: the default context (the host's copy, or the framework's) resolves it.
        if (name.Name is null || shared.Contains(name.Name)) return null;
        return _resolver.ResolveAssemblyToPath(name) is { } path ? LoadFromAssemblyPath(path) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;

    /// <summary>
    /// The names of <paramref name="contract"/>'s assemblies and of every assembly they reference, transitively,
    /// that the host ships beside itself. References are read from metadata; nothing more is loaded.
    /// </summary>
    public static IReadOnlySet<string> SharedNames(IEnumerable<Assembly> contract)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Stack<Assembly>(contract);
        while (pending.Count > 0)
        {
            var assembly = pending.Pop();
            if (!names.Add(assembly.GetName().Name!)) continue;
            foreach (var reference in assembly.GetReferencedAssemblies())
            {
                if (reference.Name is null || names.Contains(reference.Name)) continue;
                string beside = Path.Combine(AppContext.BaseDirectory, reference.Name + ".dll");
                if (!File.Exists(beside)) continue; // the framework's: the default context gives it to everyone
                pending.Push(AssemblyLoadContext.Default.LoadFromAssemblyName(reference));
            }
        }
        return names;
    }
}
