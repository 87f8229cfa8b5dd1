using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>The <c>config</c> block of an image config: how a container of the image runs.</summary>
public sealed record ContainerConfig
{
    public IReadOnlyList<string>? Env { get; init; }
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public string? WorkingDir { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string>? ExposedPorts { get; init; }
    public IReadOnlyList<string>? Volumes { get; init; }
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
    public string? StopSignal { get; init; }
    public bool? ArgsEscaped { get; init; }
}

/// <summary>One <c>history</c> entry of an image config.</summary>
public sealed record HistoryEntry(DateTimeOffset? Created, string? CreatedBy, string? Author, string? Comment, bool EmptyLayer);

/// <summary>
/// An image config, typed for what the tool reads (platform, run settings, rootfs, history). It is read
/// from bytes and written back only when something changed, so an untouched config keeps its digest;
/// <see cref="WithDiffIds(ReadOnlyMemory{byte}, IReadOnlyList{Digest})"/> changes the diff_ids and keeps every other member.
/// </summary>
public sealed class ImageConfig
{
    private ImageConfig(JsonObject json, string what)
    {
        Json = json;
        Architecture = JsonText.String(json, "architecture", what) ?? "";
        Os = JsonText.String(json, "os", what) ?? "";
        Variant = JsonText.String(json, "variant", what);
        Created = Time(json["created"]);
        Author = JsonText.String(json, "author", what);
        if (json["config"] is JsonObject c)
        {
            string w = $"{what}, config";
            Config = new ContainerConfig
            {
                Env = JsonText.StringList(c, "Env", w),
                Entrypoint = JsonText.StringList(c, "Entrypoint", w),
                Cmd = JsonText.StringList(c, "Cmd", w),
                WorkingDir = JsonText.String(c, "WorkingDir", w),
                User = JsonText.String(c, "User", w),
                ExposedPorts = JsonText.Keys(c, "ExposedPorts", w),
                Volumes = JsonText.Keys(c, "Volumes", w),
                Labels = JsonText.StringMap(c, "Labels", w),
                StopSignal = JsonText.String(c, "StopSignal", w),
                ArgsEscaped = JsonText.Bool(c, "ArgsEscaped", w),
            };
        }
        var rootfs = json["rootfs"] as JsonObject ?? throw new OccystrapException($"{what} has no rootfs");
        RootFsType = JsonText.String(rootfs, "type", what) ?? "layers";
        if (rootfs["diff_ids"] is not JsonArray ids) throw new OccystrapException($"{what} has no rootfs.diff_ids");
        DiffIds = ids.Select(id =>
        {
            string? text = id?.GetValueKind() == JsonValueKind.String ? id.GetValue<string>() : null;
            return Digest.TryParse(text, out var d) ? d : throw new OccystrapException($"{what} has an invalid diff_id '{text ?? id?.ToJsonString()}'");
        }).ToList();
        History = (json["history"] as JsonArray ?? []).OfType<JsonObject>().Select(h => new HistoryEntry(
            Time(h["created"]), Str(h, "created_by"), Str(h, "author"), Str(h, "comment"), h["empty_layer"]?.GetValueKind() == JsonValueKind.True)).ToList();
    }

    /// <summary>The document as parsed; members the type does not model are here.</summary>
    public JsonObject Json { get; }

    public string Architecture { get; }
    public string Os { get; }
    public string? Variant { get; }
    public Platform Platform => new(Os, Architecture, Variant);
    public DateTimeOffset? Created { get; }
    public string? Author { get; }
    public ContainerConfig Config { get; } = new();
    public string RootFsType { get; }
    public IReadOnlyList<Digest> DiffIds { get; }
    public IReadOnlyList<HistoryEntry> History { get; }

    /// <summary>History entries that made a layer (not <c>empty_layer</c>), in layer order.</summary>
    public IReadOnlyList<HistoryEntry> LayerHistory => History.Where(h => !h.EmptyLayer).ToList();

    public static ImageConfig Parse(ReadOnlyMemory<byte> config, string what = "image config") =>
        new(JsonText.ParseObject(config.Span, what), what);

    /// <summary>The <c>rootfs.diff_ids</c> list.</summary>
    public static IReadOnlyList<Digest> DiffIdsOf(ReadOnlyMemory<byte> config, string what = "image config") => Parse(config, what).DiffIds;

    /// <summary>Returns the config with <c>rootfs.diff_ids</c> replaced; the very same bytes when nothing changed.</summary>
    public static ReadOnlyMemory<byte> WithDiffIds(ReadOnlyMemory<byte> config, IReadOnlyList<Digest> diffIds)
    {
        var parsed = Parse(config);
        if (parsed.DiffIds.SequenceEqual(diffIds)) return config;
        var root = (JsonObject)parsed.Json.DeepClone();
        var array = new JsonArray();
        // JsonValue.Create, not Add<string>: the generic Add goes through the serializer's reflection-based resolver.
        foreach (var d in diffIds) array.Add(JsonValue.Create(d.ToString()));
        root["rootfs"]!["diff_ids"] = array;
        return JsonText.Serialize(root);
    }

    private static string? Str(JsonObject o, string key) => o[key]?.GetValueKind() == JsonValueKind.String ? o[key]!.GetValue<string>() : null;

    /// <summary>RFC 3339 text, or seconds since the epoch as some tools write.</summary>
    private static DateTimeOffset? Time(JsonNode? value)
    {
        if (value is null) return null;
        if (value.GetValueKind() == JsonValueKind.Number)
            return value.GetValue<double>() is var seconds && seconds is >= -62135596800 and <= 253402300799 ? DateTimeOffset.FromUnixTimeSeconds((long)seconds) : null;
        if (value.GetValueKind() == JsonValueKind.String
            && DateTimeOffset.TryParse(value.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
            return t;
        return null;
    }
}
