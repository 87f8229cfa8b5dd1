using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>Reads and writes OCI descriptors and platforms as JSON objects.</summary>
public static class DescriptorJson
{
    public static Descriptor Read(JsonObject o, string what)
    {
        string mediaType = JsonText.String(o, "mediaType", what) ?? "";
        string digestText = JsonText.RequiredString(o, "digest", what);
        if (!Digest.TryParse(digestText, out var digest))
            throw new OccystrapException($"{what}: '{digestText}' is not a valid digest (sha256 or sha512)");
        long size = JsonText.Long(o, "size", what) ?? throw new OccystrapException($"{what}: 'size' is missing");
        if (size < 0) throw new OccystrapException($"{what}: size {size} is negative");
        return new Descriptor(mediaType, digest, size)
        {
            Annotations = JsonText.StringMap(o, "annotations", what),
            Urls = JsonText.StringList(o, "urls", what),
            ArtifactType = JsonText.String(o, "artifactType", what),
            Platform = o["platform"] is JsonObject p ? ReadPlatform(p, what) : null,
        };
    }

    public static Platform ReadPlatform(JsonObject p, string what) =>
        new(JsonText.String(p, "os", what) ?? "", JsonText.String(p, "architecture", what) ?? "", JsonText.String(p, "variant", what))
        {
            OsVersion = JsonText.String(p, "os.version", what),
            OsFeatures = JsonText.StringList(p, "os.features", what),
        };

    /// <summary>Writes <paramref name="d"/>; members of <paramref name="original"/> that a descriptor does not model are kept.</summary>
    public static JsonObject Write(Descriptor d, JsonObject? original = null)
    {
        var o = new JsonObject
        {
            ["mediaType"] = d.MediaType,
            ["digest"] = d.Digest.ToString(),
            ["size"] = d.Size,
        };
        if (d.Urls is { Count: > 0 } urls) o["urls"] = new JsonArray(urls.Select(u => (JsonNode)JsonValue.Create(u)!).ToArray());
        if (d.Annotations is { Count: > 0 } annotations)
        {
            var a = new JsonObject();
            foreach (var (k, v) in annotations) a[k] = v;
            o["annotations"] = a;
        }
        if (d.Platform is { } p) o["platform"] = WritePlatform(p);
        if (d.ArtifactType is { } artifactType) o["artifactType"] = artifactType;
        if (original is not null)
            foreach (var (k, v) in original)
                if (!o.ContainsKey(k) && k is not ("urls" or "annotations" or "platform" or "artifactType")) o[k] = v?.DeepClone();
        return o;
    }

    public static JsonObject WritePlatform(Platform p)
    {
        var o = new JsonObject { ["architecture"] = p.Architecture, ["os"] = p.Os };
        if (p.OsVersion is { } version) o["os.version"] = version;
        if (p.OsFeatures is { Count: > 0 } features) o["os.features"] = new JsonArray(features.Select(f => (JsonNode)JsonValue.Create(f)!).ToArray());
        if (p.Variant is { } variant) o["variant"] = variant;
        return o;
    }
}
