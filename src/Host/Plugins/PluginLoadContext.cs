using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
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
    /// that the host ships beside itself (the self-contained host ships the framework's too). References are read
    /// from each file's metadata, so nothing more is loaded: loading them cost a small copy about 15 assemblies
    /// (the HTTP stack, Reflection.Emit, Brotli, ...) that it never used.
    /// </summary>
    public static IReadOnlySet<string> SharedNames(IEnumerable<Assembly> contract, string? folder = null)
    {
        folder ??= AppContext.BaseDirectory;
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Stack<string>();
        foreach (var assembly in contract)
            if (names.Add(assembly.GetName().Name!))
                foreach (var reference in assembly.GetReferencedAssemblies())
                    if (reference.Name is { } name) pending.Push(name);
        while (pending.TryPop(out var name))
        {
            if (names.Contains(name)) continue;
            string beside = Path.Combine(folder, name + ".dll");
            if (!File.Exists(beside)) continue; // the framework's, in a host that does not ship it: the default context gives it to everyone
            names.Add(name);
            foreach (var reference in ReferencesOf(beside))
                if (!names.Contains(reference)) pending.Push(reference);
        }
        return names;
    }

    private static List<string> ReferencesOf(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        if (!pe.HasMetadata) return [];
        var md = pe.GetMetadataReader();
        return [.. md.AssemblyReferences.Select(h => md.GetString(md.GetAssemblyReference(h).Name))];
    }
}
