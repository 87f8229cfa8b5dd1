using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>How this project reads and writes JSON: compact, UTF-8 kept as it is, one clear line for bad input.</summary>
public static class JsonText
{
    // A writer, not the serializer: the serializer would build its reflection-based type resolver first,
    // which costs start-up time for nothing (a node writes itself).
    private static readonly JsonWriterOptions Compact = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>A member named twice is refused: readers disagree on which one counts, and that is how a document lies.</summary>
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false, MaxDepth = 64 };

    /// <summary>Serialises a node compactly (no spaces, no escaping of non-ASCII text).</summary>
    public static byte[] Serialize(JsonNode node)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Compact)) node.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses a JSON object, or throws one clear <see cref="OccystrapException"/> naming <paramref name="what"/>.</summary>
    public static JsonObject ParseObject(ReadOnlySpan<byte> bytes, string what)
    {
        CheckUtf8(bytes, what);
        try
        {
            return JsonNode.Parse(bytes, null, Strict) as JsonObject ?? throw new OccystrapException($"{what} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new OccystrapException($"{what} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>Parses any JSON value, or throws one clear <see cref="OccystrapException"/>.</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> bytes, string what)
    {
        CheckUtf8(bytes, what);
        try
        {
            return JsonNode.Parse(bytes, null, Strict);
        }
        catch (JsonException e)
        {
            throw new OccystrapException($"{what} is not valid JSON: {e.Message}");
        }
    }

    /// <summary>JSON is UTF-8: other bytes would only fail later, inside a string, as another kind of error.</summary>
    private static void CheckUtf8(ReadOnlySpan<byte> bytes, string what)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new OccystrapException($"{what} is not valid JSON: it is not UTF-8 text");
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
