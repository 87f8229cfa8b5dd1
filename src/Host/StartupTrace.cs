using System.Diagnostics;

namespace Occystrap.Host;

/// <summary>
/// With <c>OCCYSTRAP_TRACE_STARTUP=1</c>, prints on stderr how many milliseconds after the process started each
/// step of start-up was reached: the figures behind the start-up decision record.
/// </summary>
internal static class StartupTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("OCCYSTRAP_TRACE_STARTUP") == "1";

    public static void Mark(string step)
    {
        if (!Enabled) return;
        var since = DateTime.Now - Process.GetCurrentProcess().StartTime;
        Console.Error.WriteLine($"startup: {since.TotalMilliseconds,7:0.0} ms  {step}");
    }
}
