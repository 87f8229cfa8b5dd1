using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>Reads and edits the parts of an image config the pipeline needs, leaving the rest as it is.</summary>
public static class ImageConfig
{
    private static readonly JsonSerializerOptions Compact = new()
    {
        WriteIndented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static JsonObject Parse(ReadOnlyMemory<byte> config, string what = "image config")
    {
        try
        {
            return JsonNode.Parse(config.Span) as JsonObject ?? throw new OccystrapException($"{what} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new OccystrapException($"{what} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>The <c>rootfs.diff_ids</c> list.</summary>
    public static IReadOnlyList<Digest> DiffIds(ReadOnlyMemory<byte> config, string what = "image config")
    {
        var root = Parse(config, what);
        if (root["rootfs"]?["diff_ids"] is not JsonArray ids)
            throw new OccystrapException($"{what} has no rootfs.diff_ids");
        var result = new List<Digest>(ids.Count);
        foreach (var id in ids)
        {
            string? text = id?.GetValueKind() == JsonValueKind.String ? id.GetValue<string>() : null;
            if (!Digest.TryParse(text, out var d)) throw new OccystrapException($"{what} has an invalid diff_id '{text}'");
            result.Add(d);
        }
        return result;
    }

    /// <summary>Returns the config with <c>rootfs.diff_ids</c> replaced; the same bytes when nothing changed.</summary>
    public static ReadOnlyMemory<byte> WithDiffIds(ReadOnlyMemory<byte> config, IReadOnlyList<Digest> diffIds)
    {
        if (DiffIds(config).SequenceEqual(diffIds)) return config;
        var root = Parse(config);
        var array = new JsonArray();
        foreach (var d in diffIds) array.Add(d.ToString());
        root["rootfs"]!["diff_ids"] = array;
        return JsonSerializer.SerializeToUtf8Bytes(root, Compact);
    }

    /// <summary>Serialises JSON the way this project writes all its JSON: compact, UTF-8 kept as is.</summary>
    public static byte[] Serialize(JsonNode node) => JsonSerializer.SerializeToUtf8Bytes(node, Compact);
}
