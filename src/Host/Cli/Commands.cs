using Microsoft.Extensions.Logging;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;
using Occystrap.Pipeline;
using Occystrap.Host.Plugins;
using Occystrap.Host.Terminal;

namespace Occystrap.Host.Cli;

/// <summary>The work behind each command.</summary>
internal static class Commands
{
    public static async Task<int> ProcessAsync(App app, string source, string destination, IReadOnlyList<string> filterSpecs, CancellationToken ct, string? digestFile = null)
    {
        var (inputPlugin, inputSpec) = app.Input(source);
        StartupTrace.Mark("input plugin loaded");
        var (outputPlugin, outputSpec) = app.Output(destination);
        StartupTrace.Mark("output plugin loaded");
        // When the image itself goes to standard output, everything else the run prints goes to standard error.
        bool imageOnStdout = outputSpec.Target is "-" or "/dev/stdout";
        if (imageOnStdout) app.Report = Console.Error;
        var filters = filterSpecs.Select(PluginSpec.ParseFilter).Select(app.Filter).ToList();
        LayerCache? cache = app.Globals.LayerCache is { } cachePath ? LayerCache.Open(cachePath, app.Log) : null;
        // Made before the input opens, so that an input that receives its layers can decline the cached ones;
        // it answers once the sink is open.
        var cacheCheck = cache is null ? null : new LayerCacheCheck(cache);
        var inputInvocation = app.Invocation(inputPlugin, inputSpec, PluginRole.Input) with { LayerCache = cacheCheck };
        var outputInvocation = app.Invocation(outputPlugin, outputSpec, PluginRole.Output);

        await using var image = await inputPlugin.OpenAsync(inputInvocation, ct).ConfigureAwait(false);
        IImageSink sink;
        try
        {
            sink = await outputPlugin.CreateAsync(outputInvocation, image.Name, ct).ConfigureAwait(false);
        }
        catch
        {
            cacheCheck?.Abandon();
            throw;
        }
        await using var _ = sink;
        cacheCheck?.Attach(filters, sink);
        WarnAboutIdleOptions(app, outputSpec, sink, image);
        var runner = new PipelineRunner(app.Log, app.Progress);
        StartupTrace.Mark("source and sink open");
        PipelineSummary summary;
        try
        {
            summary = await runner.RunAsync(image, filters, sink, new RunOptions { Parallel = app.Globals.Parallel, CacheCheck = cacheCheck }, ct).ConfigureAwait(false);
        }
        finally
        {
            // Layers that reached the registry stay useful even when the run failed later. The cache only
            // saves time: failing to save it is a warning, never the run's error.
            try
            {
                cache?.Save();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OccystrapException)
            {
                app.Log.LogWarning("could not save the layer cache {Path}: {Reason}", app.Globals.LayerCache, e.Message);
            }
        }
        app.Progress.Dispose();
        StartupTrace.Mark("image written");
        string cached = summary.FromCache > 0 ? $", {summary.FromCache} from the layer cache" : "";
        string written = summary.Commit.Manifest is { } m ? $", manifest {m.Digest}" : "";
        app.Note($"Summary: {summary.Layers} {(summary.Layers == 1 ? "layer" : "layers")} ({summary.Rewritten} rewritten, {summary.Copied} copied{cached}), {Sizes.Format(summary.Bytes)} written, image id {summary.Commit.ConfigDigest}{written}, {summary.Elapsed.TotalSeconds:0.0}s");

        // The result, for scripts: the manifest digest where a manifest was stored (registries, layouts), else the
        // image id (archives, folders, daemons).
        string digest = (summary.Commit.Manifest?.Digest ?? summary.Commit.ConfigDigest).ToString();
        if (digestFile is not null) WriteDigestFile(digestFile, digest);
        if (app.Globals.OutputFormat == "json") app.Report.WriteLine(ProcessJson(destination, summary, app.FilterReports).ToJsonString());
        else if (!imageOnStdout) Console.Out.WriteLine(digest);
        return 0;
    }

    /// <summary>A warning for each option given that has no effect on this run, so that nobody believes it had one.</summary>
    private static void WarnAboutIdleOptions(App app, PluginSpec output, IImageSink sink, IImageSource image)
    {
        if (app.Globals.Compression is { } compression && sink.StoredCompressions.Count == 0)
            app.Log.LogWarning("--compression {Compression} does nothing for {Scheme}://, which stores plain layers", compression.ToString().ToLowerInvariant(), output.Name);
        if (app.Globals.LayerCache is not null && sink is not ILayerCacheTarget)
            app.Log.LogWarning("--layer-cache does nothing for {Scheme}://, which stores no blobs to reuse", output.Name);
        if (app.Globals.ArchitectureGiven && ConfigArchitecture(image.Config) is { } actual && actual != app.Globals.Architecture)
            app.Log.LogWarning("--architecture {Wanted} does not apply: {Image} is a single-platform image for {Actual}", app.Globals.Architecture, image.Name.ToString(), actual);
    }

    private static string? ConfigArchitecture(ReadOnlyMemory<byte> config)
    {
        try
        {
            return ImageConfig.Parse(config) is { Architecture.Length: > 0 } parsed ? parsed.Architecture : null;
        }
        catch (OccystrapException)
        {
            return null;
        }
    }

    /// <summary>The digest alone, no newline, as skopeo's --digestfile; written whole or not at all.</summary>
    private static void WriteDigestFile(string path, string digest)
    {
        string temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllText(temp, digest);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            throw new OccystrapException($"--digestfile {path}: {e.Message}");
        }
    }

    private static JsonObject ProcessJson(string destination, PipelineSummary summary, List<StructuredReport> reports)
    {
        var layers = new JsonArray();
        foreach (var l in summary.Written)
        {
            var layer = new JsonObject { ["diff_id"] = l.DiffId.ToString() };
            if (l.Size is { } size) layer["size"] = size;
            if (l.Blob is { } blob)
            {
                layer["digest"] = blob.Digest.ToString();
                layer["blob_size"] = blob.Size;
                layer["media_type"] = blob.MediaType;
            }
            layers.Add(layer);
        }
        return new JsonObject
        {
            ["destination"] = SecretText.Redact(destination),
            ["digest"] = (summary.Commit.Manifest?.Digest ?? summary.Commit.ConfigDigest).ToString(),
            ["manifest_digest"] = summary.Commit.Manifest?.Digest.ToString(),
            ["manifest_media_type"] = summary.Commit.Manifest?.MediaType,
            ["config_digest"] = summary.Commit.ConfigDigest.ToString(),
            ["layers"] = layers,
            ["rewritten"] = summary.Rewritten,
            ["copied"] = summary.Copied,
            ["from_cache"] = summary.FromCache,
            ["bytes_written"] = summary.Bytes,
            ["seconds"] = Math.Round(summary.Elapsed.TotalSeconds, 3),
            ["filters"] = new JsonArray(reports.Select(r => (JsonNode)new JsonObject { ["name"] = r.Filter, ["items"] = r.Items }).ToArray()),
        };
    }

    public static async Task<int> SearchAsync(App app, string source, string pattern, bool regex, bool scriptFriendly, CancellationToken ct)
    {
        // Options are handed over as they are: a pattern may hold commas and '='.
        var filter = app.Filter(new PluginSpec("search", "",
            [new("pattern", pattern), new("regex", regex ? "true" : "false"), new("script_friendly", scriptFriendly ? "true" : "false")], "search"));
        var (inputPlugin, inputSpec) = app.Input(source);
        await using var image = await inputPlugin.OpenAsync(app.Invocation(inputPlugin, inputSpec, PluginRole.Input), ct).ConfigureAwait(false);
        await using var sink = new DiscardSink();
        await new PipelineRunner(app.Log, app.Progress).RunAsync(image, [filter], sink, new RunOptions { Parallel = app.Globals.Parallel }, ct).ConfigureAwait(false);
        if (app.Globals.OutputFormat == "json")
        {
            app.Progress.Dispose();
            var matches = app.FilterReports[0].Items;
            var doc = new JsonObject
            {
                ["source"] = SecretText.Redact(source),
                ["image"] = image.Name.IsUnnamed ? null : image.Name.ToString(),
                ["pattern"] = pattern,
                ["regex"] = regex,
                ["count"] = matches.Count,
                ["layers"] = matches.Select(m => m!["layer"]!.GetValue<string>()).Distinct().Count(),
                ["matches"] = matches,
            };
            Console.Out.WriteLine(doc.ToJsonString());
        }
        return 0;
    }

    /// <summary>Lists every plugin; names claimed twice are listed too, marked, and make the exit code 1 after the listing.</summary>
    public static int ListPlugins(App app)
    {
        var catalog = app.LenientCatalog;
        int code = catalog.Conflicts.Count > 0 ? 1 : 0;
        var groups = new (string Title, string Key, IEnumerable<(string Name, IPlugin Plugin, string Assembly)> Items)[]
        {
            ("Input schemes", "inputs", Loaded(catalog.Inputs.Values.Select(e => (e.Name, (Func<IPlugin>)(() => e.Plugin), e.AssemblyPath)), app)),
            ("Output schemes", "outputs", Loaded(catalog.Outputs.Values.Select(e => (e.Name, (Func<IPlugin>)(() => e.Plugin), e.AssemblyPath)), app)),
            ("Filters", "filters", Loaded(catalog.Filters.Values.Select(e => (e.Name, (Func<IPlugin>)(() => e.Plugin), e.AssemblyPath)), app)),
        };
        if (app.Globals.OutputFormat == "json")
        {
            var root = new JsonObject();
            foreach (var (_, key, items) in groups)
            {
                var array = new JsonArray();
                foreach (var (name, plugin, assembly) in items.OrderBy(i => i.Name, StringComparer.Ordinal))
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
                        ["name"] = name,
                        ["description"] = plugin.Description,
                        ["assembly"] = assembly,
                        ["options"] = options,
                    });
                }
                root[key] = array;
            }
            root["conflicts"] = new JsonArray(catalog.Conflicts.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray());
            Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(JsonText.Serialize(root)));
            foreach (string c in catalog.Conflicts) App.Stderr($"occystrap: error: {c}");
            return code;
        }
        foreach (var (title, _, items) in groups)
        {
            Console.Out.WriteLine($"{title}:");
            var list = items.OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
            if (list.Count == 0) Console.Out.WriteLine("  (none)");
            foreach (var (name, plugin, assembly) in list)
            {
                Console.Out.WriteLine($"  {name} - {plugin.Description}");
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
        if (catalog.Conflicts.Count > 0)
        {
            Console.Out.WriteLine("Conflicts (the first plugin keeps the name; the commands that use it stop until one is removed):");
            foreach (string c in catalog.Conflicts) Console.Out.WriteLine($"  CONFLICT: {c}");
            foreach (string c in catalog.Conflicts) App.Stderr($"occystrap: error: {c}");
        }
        return code;
    }

    /// <summary>Loads each listed plugin; one that fails to load is named in a warning and left out of the list.</summary>
    private static List<(string Name, IPlugin Plugin, string Assembly)> Loaded(IEnumerable<(string Name, Func<IPlugin> Load, string Assembly)> entries, App app)
    {
        var list = new List<(string, IPlugin, string)>();
        foreach (var (name, load, assembly) in entries)
        {
            try
            {
                list.Add((name, load(), assembly));
            }
            catch (OccystrapException e)
            {
                app.Log.LogWarning("{Reason}; not listed", e.Message);
            }
        }
        return list;
    }

    /// <summary>Reads every layer to its end and keeps nothing: for commands that only look.</summary>
    private sealed class DiscardSink : IImageSink
    {
        public LayerDelivery Delivery => LayerDelivery.DistinctInParallel;

        public IReadOnlyCollection<LayerCompression> StoredCompressions => [];

        public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken)
        {
            await layer.Stream.CopyToAsync(Stream.Null, 1024 * 1024, cancellationToken).ConfigureAwait(false);
            return StoredLayer.Tar;
        }

        public Task<CommitResult> CommitAsync(ImageResult image, CancellationToken cancellationToken) =>
            Task.FromResult(new CommitResult(null, Digest.Compute(image.Config.Span)));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
