using System.CommandLine;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Host.Plugins;
using Occystrap.Host.Terminal;

namespace Occystrap.Host.Cli;

/// <summary>What every command needs: the global options, logging, progress and the plugin catalog.</summary>
internal sealed class App : IDisposable
{
    private readonly GlobalOptionSet _set;
    private readonly ParseResult _parse;
    private PluginCatalog? _catalog;

    public App(GlobalOptionSet set, ParseResult parse)
    {
        _set = set;
        _parse = parse;
        Globals = set.Read(parse);
        if (!Directory.Exists(Globals.TempDir))
            throw new UsageException($"--temp-dir {Globals.TempDir} does not exist");
        var level = Globals.Debug ? LogLevel.Trace : Globals.Verbose ? LogLevel.Debug : LogLevel.Information;
        Loggers = new StderrLoggerFactory(level, Stderr);
        Log = Loggers.CreateLogger("occystrap");
        Progress = new ConsoleProgress(!Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb"), Stderr);
    }

    public GlobalOptions Globals { get; }
    public ILoggerFactory Loggers { get; }
    public ILogger Log { get; }
    public ConsoleProgress Progress { get; }

    public PluginCatalog Catalog => _catalog ??= PluginCatalog.Load(
        PluginCatalog.SearchFolders(_parse.GetValue(_set.PluginsDir) ?? []), Loggers.CreateLogger("plugins"));

    public static void Stderr(string line)
    {
        lock (Console.Error) Console.Error.WriteLine(line);
    }

    public PluginInvocation Invocation(IPlugin plugin, PluginSpec spec, string role) =>
        new(spec.Target, spec.Bind(plugin, role), Globals, Loggers.CreateLogger(plugin.GetType().FullName ?? plugin.Name), Progress) { RawTarget = spec.RawTarget };

    public (IInputPlugin, PluginSpec) Input(string uri)
    {
        var spec = PluginSpec.ParseUri(uri);
        if (!Catalog.Inputs.TryGetValue(spec.Name, out var entry))
            throw new UsageException($"unknown input scheme '{spec.Name}' in '{spec.Text}' (known: {Known(Catalog.Inputs.Keys)})");
        return (entry.Plugin, spec);
    }

    public (IOutputPlugin, PluginSpec) Output(string uri)
    {
        var spec = PluginSpec.ParseUri(uri);
        if (!Catalog.Outputs.TryGetValue(spec.Name, out var entry))
            throw new UsageException($"unknown output scheme '{spec.Name}' in '{spec.Text}' (known: {Known(Catalog.Outputs.Keys)})");
        return (entry.Plugin, spec);
    }

    public IImageFilter Filter(string text) => Filter(PluginSpec.ParseFilter(text));

    public IImageFilter Filter(PluginSpec spec)
    {
        if (!Catalog.Filters.TryGetValue(spec.Name, out var entry))
            throw new UsageException($"unknown filter '{spec.Name}' (known: {Known(Catalog.Filters.Keys)})");
        return entry.Plugin.Create(Invocation(entry.Plugin, spec, "filter"));
    }

    private static string Known(IEnumerable<string> names)
    {
        var list = names.Order(StringComparer.Ordinal).ToList();
        return list.Count == 0 ? "none installed" : string.Join(", ", list);
    }

    public void Dispose() => Progress.Dispose();
}
