using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;
using Occystrap.Host.Plugins;
using Occystrap.Host.Terminal;

namespace Occystrap.Host.Cli;

/// <summary>
/// <c>info SOURCE</c>: what an image is, from its manifest and config only; no layer is read.
/// <c>--raw</c> prints the manifest's bytes exactly and <c>--config</c> the config's.
/// </summary>
internal static class InfoCommand
{
    /// <summary>The version of the JSON document; it changes only when a key changes meaning or goes.</summary>
    public const int SchemaVersion = 1;

    public static async Task<int> RunAsync(App app, string source, bool raw, bool config, CancellationToken ct)
    {
        if (raw && config) throw new UsageException("info takes --raw or --config, not both");
        RefuseDockerPush(source, "info");
        var (inputPlugin, inputSpec) = app.Input(source);
        var invocation = app.Invocation(inputPlugin, inputSpec, PluginRole.Input);
        await using var stdout = Console.OpenStandardOutput();
        // An input that can describe an image without reading it (a daemon's inspect) is asked to, unless bytes are wanted.
        await using var image = !raw && !config && inputPlugin is IDescribingInputPlugin describing
            ? await describing.DescribeAsync(invocation, ct).ConfigureAwait(false)
            : await inputPlugin.OpenAsync(invocation, ct).ConfigureAwait(false);
        if (raw)
        {
            var manifest = image.Manifest ?? throw new OccystrapException(
                $"{source} has no manifest of its own (a docker-save archive or a daemon keeps only the config); try --config");
            await stdout.WriteAsync(manifest.Bytes, ct).ConfigureAwait(false);
            return 0;
        }
        if (config)
        {
            await stdout.WriteAsync(image.Config, ct).ConfigureAwait(false);
            return 0;
        }
        var doc = Describe(image);
        // A registry also says which tags the repository has (one more GET per page of tags).
        if (image is Registry.RegistryImage fromRegistry)
            doc["tags"] = new JsonArray((await fromRegistry.Client.ListTagsAsync(fromRegistry.Reference.Repository, ct).ConfigureAwait(false))
                .Select(t => (JsonNode)t).ToArray());
        await stdout.WriteAsync(Render(app, doc), ct).ConfigureAwait(false);
        return 0;
    }

    private static byte[] Render(App app, JsonObject doc) => app.Globals.OutputFormat == "json"
        ? [.. JsonText.Serialize(doc), (byte)'\n']
        : Encoding.UTF8.GetBytes(Text(doc));

    /// <summary>dockerpush:// receives an image as a daemon pushes it: there is nothing to describe or check before that.</summary>
    internal static void RefuseDockerPush(string source, string command)
    {
        if (source.StartsWith("dockerpush://", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"{command} cannot read dockerpush://: it only receives an image that a daemon pushes; use docker://{source["dockerpush://".Length..]} to read it from the daemon");
    }

    /// <summary>The document, keys in a fixed order (docs/user-guide.md, "The info document").</summary>
    internal static JsonObject Describe(IImageSource image)
    {
        var cfg = ImageConfig.Parse(image.Config, "the image config");
        var manifest = image.Manifest is { } m ? ImageManifest.Parse(m.Bytes.Span, "the manifest") : null;
        var layerHistory = cfg.LayerHistory;
        var layers = new JsonArray();
        long? total = 0;
        for (int i = 0; i < image.Layers.Count; i++)
        {
            var layer = image.Layers[i];
            var descriptor = manifest is not null && i < manifest.Layers.Count ? manifest.Layers[i] : null;
            long? size = descriptor?.Size;
            if (size is null) total = null;
            else total += size;
            layers.Add(new JsonObject
            {
                ["index"] = i,
                ["diffId"] = layer.DiffId.ToString(),
                ["digest"] = descriptor?.Digest.ToString(),
                ["size"] = size,
                ["mediaType"] = descriptor?.MediaType,
                ["compression"] = descriptor is null ? null : CompressionName(MediaTypeTable.LayerCompressionOf(descriptor.MediaType)),
                ["createdBy"] = i < layerHistory.Count ? layerHistory[i].CreatedBy : null,
            });
        }
        JsonObject? index = null;
        if (image.Index is { } ix)
        {
            var platforms = new JsonArray();
            foreach (var entry in ImageIndex.Parse(ix.Bytes.Span, "the index").Manifests)
                platforms.Add(new JsonObject
                {
                    ["platform"] = entry.Platform?.ToString(),
                    ["digest"] = entry.Digest.ToString(),
                    ["mediaType"] = entry.MediaType,
                    ["chosen"] = image.IndexEntry is { } chosen && chosen.Digest == entry.Digest,
                });
            index = new JsonObject { ["digest"] = ix.Descriptor.Digest.ToString(), ["mediaType"] = ix.Descriptor.MediaType, ["manifests"] = platforms };
        }
        var c = cfg.Config;
        return new JsonObject
        {
            ["schemaVersion"] = SchemaVersion,
            ["image"] = image.Name.ToString(),
            ["tags"] = null,
            ["index"] = index,
            ["manifest"] = image.Manifest is { } md
                ? new JsonObject { ["digest"] = md.Descriptor.Digest.ToString(), ["mediaType"] = md.Descriptor.MediaType, ["size"] = (long)md.Bytes.Length }
                : null,
            // A config rebuilt from a description (a daemon's inspect) has a digest of its own but no size to show.
            ["config"] = new JsonObject { ["digest"] = image.ConfigDigest.ToString(), ["size"] = image.ConfigDigest.Matches(image.Config.Span) ? (long?)image.Config.Length : null },
            ["os"] = cfg.Os,
            ["architecture"] = cfg.Architecture,
            ["variant"] = cfg.Variant,
            ["created"] = cfg.Created?.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", System.Globalization.CultureInfo.InvariantCulture),
            ["author"] = cfg.Author,
            ["layerCount"] = image.Layers.Count,
            ["totalCompressedSize"] = manifest is null ? null : total,
            ["layers"] = layers,
            ["history"] = new JsonArray(cfg.History.Select(h => (JsonNode)new JsonObject
            {
                ["created"] = h.Created?.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", System.Globalization.CultureInfo.InvariantCulture),
                ["createdBy"] = h.CreatedBy,
                ["emptyLayer"] = h.EmptyLayer,
            }).ToArray()),
            ["user"] = c.User,
            ["workingDir"] = c.WorkingDir,
            ["entrypoint"] = Strings(c.Entrypoint),
            ["cmd"] = Strings(c.Cmd),
            ["env"] = Strings(c.Env) ?? [],
            ["exposedPorts"] = Strings(c.ExposedPorts) ?? [],
            ["volumes"] = Strings(c.Volumes) ?? [],
            ["labels"] = new JsonObject((c.Labels ?? new Dictionary<string, string>()).OrderBy(l => l.Key, StringComparer.Ordinal)
                .Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))),
        };
    }

    private static JsonArray? Strings(IReadOnlyList<string>? values) => values is null ? null : new JsonArray(values.Select(v => (JsonNode)v).ToArray());

    private static string CompressionName(LayerCompression? c) => c switch
    {
        LayerCompression.Gzip => "gzip",
        LayerCompression.Zstd => "zstd",
        LayerCompression.None => "none",
        _ => "unknown",
    };

    private static string Text(JsonObject doc)
    {
        var s = new StringBuilder();
        void Line(string label, JsonNode? value)
        {
            if (value is null) return;
            s.Append((label + ":").PadRight(15)).Append(value is JsonValue v ? v.ToString() : value.ToJsonString()).Append('\n');
        }
        Line("Image", doc["image"]);
        if (doc["tags"] is JsonArray tags)
            Line("Tags", tags.Count == 0 ? "(none)" : $"{tags.Count}: {Clip(string.Join(", ", tags.Select(t => t!.ToString())), 200)}");
        if (doc["index"] is JsonObject ix)
        {
            Line("Index", ix["digest"]);
            foreach (var e in ix["manifests"]!.AsArray().OfType<JsonObject>())
                s.Append("  ").Append(e["chosen"]!.GetValue<bool>() ? "* " : "  ").Append((e["platform"]?.ToString() ?? "(no platform)").PadRight(20)).Append(' ').Append(e["digest"]).Append('\n');
        }
        if (doc["manifest"] is JsonObject mf)
        {
            Line("Manifest", mf["digest"]);
            Line("Media type", mf["mediaType"]);
        }
        string platform = $"{doc["os"]}/{doc["architecture"]}{(doc["variant"] is { } variant ? "/" + variant : "")}";
        Line("Platform", platform);
        Line("Created", doc["created"]);
        Line("Config", doc["config"]!["digest"]);
        if (doc["config"]!["size"] is JsonValue configSize) Line("Config size", Sizes.Format(configSize.GetValue<long>()));
        s.Append('\n').Append($"Layers: {doc["layerCount"]}");
        if (doc["totalCompressedSize"] is JsonValue total) s.Append($", {Sizes.Format(total.GetValue<long>())} compressed");
        s.Append('\n');
        foreach (var l in doc["layers"]!.AsArray().OfType<JsonObject>())
        {
            s.Append($"  {l["index"]!.GetValue<int>() + 1,3}  {l["diffId"]}");
            if (l["digest"] is { } d) s.Append($"  {d}  {Sizes.Format(l["size"]!.GetValue<long>())}  {l["compression"]}");
            if (l["createdBy"] is { } by) s.Append($"\n       {Clip(by.ToString(), 100)}");
            s.Append('\n');
        }
        var history = doc["history"]!.AsArray();
        s.Append($"History: {history.Count} entries ({history.Count(h => h!["emptyLayer"]!.GetValue<bool>())} empty)\n");
        s.Append("Container config:\n");
        foreach (var (label, key) in new[] { ("User", "user"), ("WorkingDir", "workingDir"), ("Entrypoint", "entrypoint"), ("Cmd", "cmd") })
            if (doc[key] is { } v) s.Append($"  {label + ":",-12}{(v is JsonValue jv ? jv.ToString() : v.ToJsonString())}\n");
        foreach (var (label, key) in new[] { ("Ports", "exposedPorts"), ("Volumes", "volumes") })
            if (doc[key]!.AsArray().Count > 0) s.Append($"  {label + ":",-12}{string.Join(", ", doc[key]!.AsArray().Select(x => x!.ToString()))}\n");
        if (doc["env"]!.AsArray().Count > 0)
        {
            s.Append("  Environment:\n");
            foreach (var e in doc["env"]!.AsArray()) s.Append($"    {e}\n");
        }
        if (doc["labels"]!.AsObject().Count > 0)
        {
            s.Append("  Labels:\n");
            foreach (var (k, v) in doc["labels"]!.AsObject()) s.Append($"    {k}={v}\n");
        }
        return s.ToString();
    }

    private static string Clip(string text, int width)
    {
        text = text.Replace('\n', ' ').Replace('\t', ' ');
        return text.Length <= width ? text : text[..(width - 3)] + "...";
    }
}
