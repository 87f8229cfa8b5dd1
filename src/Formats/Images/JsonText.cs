using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>How this project reads and writes JSON: compact, UTF-8 kept as it is, one clear line for bad input.</summary>
public static class JsonText
{
    private static readonly JsonSerializerOptions Compact = new()
    {
        WriteIndented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Serialises a node compactly (no spaces, no escaping of non-ASCII text).</summary>
    public static byte[] Serialize(JsonNode node) => JsonSerializer.SerializeToUtf8Bytes(node, Compact);

    /// <summary>Parses a JSON object, or throws one clear <see cref="OccystrapException"/> naming <paramref name="what"/>.</summary>
    public static JsonObject ParseObject(ReadOnlySpan<byte> bytes, string what)
    {
        try
        {
            return JsonNode.Parse(bytes) as JsonObject ?? throw new OccystrapException($"{what} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new OccystrapException($"{what} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>Parses any JSON value, or throws one clear <see cref="OccystrapException"/>.</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> bytes, string what)
    {
        try
        {
            return JsonNode.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new OccystrapException($"{what} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>A string member, or null when absent or null; anything else is an error.</summary>
    public static string? String(JsonObject o, string key, string what)
    {
        var node = o[key];
        if (node is null) return null;
        return node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : throw new OccystrapException($"{what}: '{key}' is not a string");
    }

    public static string RequiredString(JsonObject o, string key, string what) =>
        String(o, key, what) ?? throw new OccystrapException($"{what}: '{key}' is missing");

    public static long? Long(JsonObject o, string key, string what)
    {
        var node = o[key];
        if (node is null) return null;
        if (node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue(out long l)) return l;
        if (node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        throw new OccystrapException($"{what}: '{key}' is not a whole number");
    }

    public static bool? Bool(JsonObject o, string key, string what)
    {
        var node = o[key];
        if (node is null) return null;
        return node.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new OccystrapException($"{what}: '{key}' is not true or false"),
        };
    }

    public static IReadOnlyList<string>? StringList(JsonObject o, string key, string what)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is not JsonArray a) throw new OccystrapException($"{what}: '{key}' is not a list");
        return a.Select(n => n?.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw new OccystrapException($"{what}: '{key}' holds something that is not a string")).ToList();
    }

    public static IReadOnlyDictionary<string, string>? StringMap(JsonObject o, string key, string what)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is not JsonObject m) throw new OccystrapException($"{what}: '{key}' is not an object");
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in m)
            result[k] = v?.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw new OccystrapException($"{what}: '{key}.{k}' is not a string");
        return result;
    }

    /// <summary>The keys of an object member (ExposedPorts, Volumes), or null when absent.</summary>
    public static IReadOnlyList<string>? Keys(JsonObject o, string key, string what)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is not JsonObject m) throw new OccystrapException($"{what}: '{key}' is not an object");
        return m.Select(p => p.Key).ToList();
    }
}
