using Microsoft.Extensions.Logging;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;
using Occystrap.Host.Pipeline;
using Occystrap.Host.Plugins;
using Occystrap.Host.Terminal;

namespace Occystrap.Host.Cli;

/// <summary>The work behind each command.</summary>
internal static class Commands
{
    public static async Task<int> ProcessAsync(App app, string source, string destination, IReadOnlyList<string> filterSpecs, CancellationToken ct)
    {
        var (inputPlugin, inputSpec) = app.Input(source);
        var (outputPlugin, outputSpec) = app.Output(destination);
        var specs = filterSpecs.Select(PluginSpec.ParseFilter).ToList();
        var filters = specs.Select(app.Filter).ToList();
        var inputInvocation = app.Invocation(inputPlugin, inputSpec, "input");
        var outputInvocation = app.Invocation(outputPlugin, outputSpec, "output");

        await using var image = await inputPlugin.OpenAsync(inputInvocation, ct).ConfigureAwait(false);
        await using var sink = await outputPlugin.CreateAsync(outputInvocation, image.Name, ct).ConfigureAwait(false);
        LayerCache? cache = app.Globals.LayerCache is { } cachePath ? LayerCache.Open(cachePath, app.Log) : null;
        string compression = outputSpec.Options.LastOrDefault(o => o.Key.Equals("compression", StringComparison.OrdinalIgnoreCase)).Value
            ?? app.Globals.Compression ?? "gzip";
        var runner = new PipelineRunner(app.Log, app.Progress);
        PipelineSummary summary;
        try
        {
            var bound = specs.Select(s => (s.Name, s.Bind(app.Catalog.Filters[s.Name].Plugin, "filter"))).ToList();
            summary = await runner.RunAsync(image, filters, sink, ct,
                cache is null ? null : (cache, LayerCache.PipelineHash(bound, compression))).ConfigureAwait(false);
        }
        finally
        {
            // Layers that reached the registry stay useful even when the run failed later. The cache only
            // saves time: failing to save it is a warning, never the run's error.
            try
            {
                cache?.Save();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                app.Log.LogWarning("could not save the layer cache {Path}: {Reason}", app.Globals.LayerCache, e.Message);
            }
        }
        app.Progress.Dispose();
        string cached = cache is { Hits: > 0 } ? $", {cache.Hits} from the layer cache" : "";
        App.Stderr($"Summary: {summary.Layers} {(summary.Layers == 1 ? "layer" : "layers")} ({summary.Rewritten} rewritten, {summary.Copied} copied{cached}), {Sizes.Format(summary.Bytes)} written, {summary.Elapsed.TotalSeconds:0.0}s");
        return 0;
    }

    public static async Task<int> SearchAsync(App app, string source, string pattern, bool regex, bool scriptFriendly, CancellationToken ct)
    {
        // Options are handed over as they are: a pattern may hold commas and '='.
        var filter = app.Filter(new PluginSpec("search", "",
            [new("pattern", pattern), new("regex", regex ? "true" : "false"), new("script_friendly", scriptFriendly ? "true" : "false")], "search"));
        var (inputPlugin, inputSpec) = app.Input(source);
        await using var image = await inputPlugin.OpenAsync(app.Invocation(inputPlugin, inputSpec, "input"), ct).ConfigureAwait(false);
        await using var sink = new DiscardSink();
        await new PipelineRunner(app.Log, app.Progress).RunAsync(image, [filter], sink, ct).ConfigureAwait(false);
        return 0;
    }

    public static int ListPlugins(App app)
    {
        var catalog = app.Catalog;
        var groups = new (string Title, string Key, IEnumerable<(IPlugin Plugin, string Assembly)> Items)[]
        {
            ("Input schemes", "inputs", catalog.Inputs.Values.Select(e => ((IPlugin)e.Plugin, e.AssemblyPath))),
            ("Output schemes", "outputs", catalog.Outputs.Values.Select(e => ((IPlugin)e.Plugin, e.AssemblyPath))),
            ("Filters", "filters", catalog.Filters.Values.Select(e => ((IPlugin)e.Plugin, e.AssemblyPath))),
        };
        if (app.Globals.OutputFormat == "json")
        {
            var root = new JsonObject();
            foreach (var (_, key, items) in groups)
            {
                var array = new JsonArray();
                foreach (var (plugin, assembly) in items.OrderBy(i => i.Plugin.Name, StringComparer.Ordinal))
                {
                    var options = new JsonArray();
                    foreach (var o in plugin.Options)
                        options.Add(new JsonObject
                        {
                            ["name"] = o.Name,
                            ["type"] = o.Type.ToString().ToLowerInvariant(),
                            ["required"] = o.Required,
                            ["default"] = o.Default is null ? null : o.DefaultText,
                            ["aliases"] = new JsonArray(o.Aliases.Select(a => (JsonNode)JsonValue.Create(a)!).ToArray()),
                            ["help"] = o.Help,
                        });
                    array.Add(new JsonObject
                    {
                        ["name"] = plugin.Name,
                        ["description"] = plugin.Description,
                        ["assembly"] = assembly,
                        ["options"] = options,
                    });
                }
                root[key] = array;
            }
            Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(ImageConfig.Serialize(root)));
            return 0;
        }
        foreach (var (title, _, items) in groups)
        {
            Console.Out.WriteLine($"{title}:");
            var list = items.OrderBy(i => i.Plugin.Name, StringComparer.Ordinal).ToList();
            if (list.Count == 0) Console.Out.WriteLine("  (none)");
            foreach (var (plugin, assembly) in list)
            {
                Console.Out.WriteLine($"  {plugin.Name} - {plugin.Description}");
                Console.Out.WriteLine($"    from {assembly}");
                foreach (var o in plugin.Options)
                {
                    string traits = o.Type.ToString().ToLowerInvariant()
                        + (o.Required ? ", required" : "")
                        + (o.Default is not null ? $", default {o.DefaultText}" : "")
                        + (o.Aliases.Count > 0 ? $", also {string.Join("/", o.Aliases)}" : "");
                    Console.Out.WriteLine($"    {o.Name} ({traits}): {o.Help}");
                }
            }
            Console.Out.WriteLine();
        }
        return 0;
    }

    /// <summary>Reads every layer to its end and keeps nothing: for commands that only look.</summary>
    private sealed class DiscardSink : IImageSink
    {
        public bool AcceptsCompressedLayers => false;

        public Task WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken) =>
            layer.Stream.CopyToAsync(Stream.Null, 1024 * 1024, cancellationToken);

        public Task CommitAsync(ImageResult image, CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
