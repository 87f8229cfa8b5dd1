using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Host.Plugins;
using Occystrap.Pipeline;
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
        // Credentials from the environment are read once here and handed only to registry plugins; they
        // are taken out of the process environment so that no other plugin finds them there.
        Environment.SetEnvironmentVariable("OCCYSTRAP_USERNAME", null);
        Environment.SetEnvironmentVariable("OCCYSTRAP_PASSWORD", null);
        if (!Directory.Exists(Globals.TempDir))
            throw new UsageException($"--temp-dir {Globals.TempDir} does not exist");
        // --quiet wins over --verbose: a script that asks for silence gets it.
        var level = Globals.Quiet ? LogLevel.Error : Globals.Debug ? LogLevel.Trace : Globals.Verbose ? LogLevel.Debug : LogLevel.Information;
        bool terminal = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");
        var mode = Globals.Quiet ? ProgressMode.Quiet : terminal ? ProgressMode.Live : ProgressMode.Lines;
        Progress = new ConsoleProgress(mode, color: string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR")), Console.Error);
        s_progress = Progress;
        Loggers = new StderrLoggerFactory(level, Stderr);
        Log = Loggers.CreateLogger("occystrap");
    }

    private static ConsoleProgress? s_progress;

    public GlobalOptions Globals { get; }
    public ILoggerFactory Loggers { get; }
    public ILogger Log { get; }
    public ConsoleProgress Progress { get; }

    public PluginCatalog Catalog => _catalog ??= LoadCatalog();

    /// <summary>The catalog with conflicts recorded rather than fatal: for the <c>plugins</c> listing.</summary>
    public PluginCatalog LenientCatalog => _catalog ??= LoadCatalog(lenient: true);

    private PluginCatalog LoadCatalog(bool lenient = false)
    {
        var catalog = PluginCatalog.Load(PluginCatalog.SearchFolders(_parse.GetValue(_set.PluginsDir) ?? []), Loggers.CreateLogger("plugins"), lenient);
        StartupTrace.Mark("plugin declarations read");
        return catalog;
    }

    /// <summary>One whole line on stderr: through the progress display while it is live, so bars never cut it.</summary>
    public static void Stderr(string line)
    {
        if (s_progress is { } progress) progress.WriteLine(line);
        else lock (Console.Error) Console.Error.WriteLine(line);
    }

    /// <summary>A line for people, not scripts (the summary): left out under --quiet.</summary>
    public void Note(string line)
    {
        if (!Globals.Quiet) Stderr(line);
    }

    /// <summary>
    /// What one use of a plugin gets: its options, the platform choice, the output defaults and the temp
    /// folder; registry access only for an input or output that declares <see cref="IRegistryPlugin"/>.
    /// </summary>
    public PluginInvocation Invocation(IPlugin plugin, PluginSpec spec, PluginRole role) =>
        new(spec.Target, spec.Bind(plugin, role.ToString().ToLowerInvariant()), Loggers.CreateLogger(plugin.GetType().FullName ?? spec.Name), Progress)
        {
            RawTarget = spec.RawTarget,
            Platform = Globals.Platform,
            Output = Globals.Output,
            TempDir = Globals.TempDir,
            Registry = role != PluginRole.Filter && plugin is IRegistryPlugin ? Globals.RegistryFor(role == PluginRole.Input) : null,
            Report = Report,
        };

    /// <summary>Where filters report and results go: standard error once the image itself goes to standard output.</summary>
    public TextWriter Report { get; set; } = Console.Out;

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

    /// <summary>Creates the filter a spec names, with its bound options (the pipeline's identity for the layer cache).</summary>
    public PipelineFilter Filter(PluginSpec spec)
    {
        if (!Catalog.Filters.TryGetValue(spec.Name, out var entry))
            throw new UsageException($"unknown filter '{spec.Name}' (known: {Known(Catalog.Filters.Keys)})");
        var invocation = Invocation(entry.Plugin, spec, PluginRole.Filter);
        if (Globals.OutputFormat == "json")
        {
            var report = new StructuredReport(spec.Name);
            FilterReports.Add(report);
            invocation = invocation with { Structured = report };
        }
        return new PipelineFilter(spec.Name, invocation.Options, entry.Plugin.Create(invocation));
    }

    /// <summary>With -O json, what each filter reported, in the order the filters were given.</summary>
    public List<StructuredReport> FilterReports { get; } = [];

    private static string Known(IEnumerable<string> names)
    {
        var list = names.Order(StringComparer.Ordinal).ToList();
        return list.Count == 0 ? "none installed" : string.Join(", ", list);
    }

    public void Dispose() => Progress.Dispose();
}

/// <summary>One filter's items for the command's JSON document.</summary>
internal sealed class StructuredReport(string filter) : IStructuredReport
{
    public string Filter => filter;

    public JsonArray Items { get; } = [];

    public void Add(JsonObject item)
    {
        lock (Items) Items.Add(item);
    }
}
