using System.Diagnostics;

namespace Occystrap.Host;

/// <summary>
/// With <c>OCCYSTRAP_TRACE_STARTUP=1</c>, prints on stderr how many milliseconds after the process started each
/// step of start-up was reached, and which assemblies were loaded since the step before: the figures behind the
/// start-up decision records.
/// </summary>
internal static class StartupTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("OCCYSTRAP_TRACE_STARTUP") == "1";
    private static readonly HashSet<string> Seen = new(StringComparer.Ordinal);

    public static void Mark(string step)
    {
        if (!Enabled) return;
        var since = DateTime.Now - Process.GetCurrentProcess().StartTime;
        var loaded = new List<string>();
        lock (Seen)
            foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
                if (assembly.GetName().Name is { } name && Seen.Add(name)) loaded.Add(name);
        loaded.Sort(StringComparer.Ordinal);
        Console.Error.WriteLine($"startup: {since.TotalMilliseconds,7:0.0} ms  {step} (loaded: {string.Join(", ", loaded)})");
    }
}
