using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>An OCI image index or a Docker manifest list, checked as it is read.</summary>
public sealed class ImageIndex
{
    private ImageIndex(string mediaType, IReadOnlyList<Descriptor> manifests, IReadOnlyDictionary<string, string>? annotations)
    {
        MediaType = mediaType;
        Manifests = manifests;
        Annotations = annotations;
    }

    public string MediaType { get; }
    public IReadOnlyList<Descriptor> Manifests { get; }
    public IReadOnlyDictionary<string, string>? Annotations { get; }

    /// <summary>True when the bytes are an index (by media type, or by a <c>manifests</c> list when no type is given).</summary>
    public static bool Is(JsonObject json, string? contentType)
    {
        string? mediaType = json["mediaType"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? json["mediaType"]!.GetValue<string>() : contentType;
        return MediaTypeTable.IsIndex(mediaType) || (json["manifests"] is JsonArray && json["config"] is null);
    }

    public static ImageIndex Parse(ReadOnlySpan<byte> bytes, string what, string? contentType = null) =>
        FromJson(JsonText.ParseObject(bytes, what), what, contentType);

    public static ImageIndex FromJson(JsonObject json, string what, string? contentType = null)
    {
        if (JsonText.Long(json, "schemaVersion", what) != 2) throw new OccystrapException($"{what}: schemaVersion is not 2");
        string mediaType = JsonText.String(json, "mediaType", what) ?? contentType ?? MediaTypes.OciIndex;
        if (!MediaTypeTable.IsIndex(mediaType)) mediaType = MediaTypes.OciIndex;
        var list = json["manifests"] as JsonArray ?? throw new OccystrapException($"{what} has no manifests list");
        var manifests = list.Select((m, i) => m is JsonObject o ? DescriptorJson.Read(o, $"{what}, entry {i + 1}") : throw new OccystrapException($"{what}: entry {i + 1} is not an object")).ToList();
        return new ImageIndex(mediaType, manifests, JsonText.StringMap(json, "annotations", what));
    }
}
