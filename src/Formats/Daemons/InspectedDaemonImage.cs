using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Daemons;

/// <summary>
/// An image as a daemon describes it, from <c>GET /images/{name}/json</c> and <c>/history</c> only: no
/// save stream is opened, so describing a large image costs two small requests. The config is rebuilt
/// from the daemon's fields; its bytes are not the image's own config (they are not kept by the daemon
/// in a form the API returns), so <see cref="ConfigDigest"/> is the daemon's image id.
/// Its layers can be listed but not read.
/// </summary>
public sealed class InspectedDaemonImage : IImageSource
{
    private InspectedDaemonImage(ImageName name, Digest id, byte[] config, IReadOnlyList<ISourceLayer> layers)
    {
        Name = name;
        Id = id;
        Config = config;
        Layers = layers;
    }

    public ImageName Name { get; }

    /// <summary>The daemon's image id: the config's digest with the classic image store.</summary>
    public Digest Id { get; }

    /// <summary>The image id: <see cref="Config"/> is rebuilt, so its own hash would name nothing.</summary>
    public Digest ConfigDigest => Id;

    /// <summary>A config rebuilt from the daemon's description (platform, run settings, diff_ids, history).</summary>
    public ReadOnlyMemory<byte> Config { get; }

    public ImageDocument? Manifest => null;

    public IReadOnlyList<ISourceLayer> Layers { get; }

    public static async Task<InspectedDaemonImage> OpenAsync(EngineClient client, string reference, CancellationToken ct)
    {
        var inspect = await client.InspectImageAsync(reference, ct).ConfigureAwait(false);
        var history = await client.HistoryAsync(reference, ct).ConfigureAwait(false);
        string what = $"{client.Socket}: image {reference}";
        var (id, diffIds) = DaemonImage.IdAndLayers(inspect, what);

        var config = new JsonObject
        {
            ["architecture"] = Text(inspect, "Architecture"),
            ["os"] = Text(inspect, "Os"),
        };
        if (Text(inspect, "Variant") is { Length: > 0 } variant) config["variant"] = variant;
        if (Text(inspect, "Created") is { Length: > 0 } created) config["created"] = created;
        if (Text(inspect, "Author") is { Length: > 0 } author) config["author"] = author;
        if (inspect["Config"] is JsonObject run) config["config"] = run.DeepClone();
        config["rootfs"] = new JsonObject
        {
            ["type"] = "layers",
            ["diff_ids"] = new JsonArray(diffIds.Select(d => (JsonNode)d.ToString()).ToArray()),
        };
        // The daemon lists history newest first; a config lists it oldest first. An entry of size 0
        // made no layer.
        var entries = new JsonArray();
        foreach (var h in history.Reverse().OfType<JsonObject>())
        {
            var entry = new JsonObject();
            if (h["Created"] is JsonValue c && c.TryGetValue(out long seconds) && seconds > 0)
                entry["created"] = DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
            if (Text(h, "CreatedBy") is { Length: > 0 } by) entry["created_by"] = by;
            if (Text(h, "Comment") is { Length: > 0 } comment) entry["comment"] = comment;
            if (h["Size"] is JsonValue size && size.TryGetValue(out long bytes) && bytes == 0) entry["empty_layer"] = true;
            entries.Add(entry);
        }
        config["history"] = entries;

        var name = ImageName.Parse(reference);
        var layers = diffIds.Select((d, i) => (ISourceLayer)new DaemonImage.DaemonLayer(i, d, (_, _) =>
            throw new OccystrapException($"{what}: layers of an image described from the daemon's inspect are not read; use docker:// as a source"))).ToList();
        return new InspectedDaemonImage(name, id, JsonText.Serialize(config), layers);
    }

    private static string? Text(JsonObject o, string key) =>
        o[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
