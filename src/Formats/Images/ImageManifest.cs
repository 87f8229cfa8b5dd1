using System.Text.Json.Nodes;
using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>
/// An image manifest, OCI or Docker v2 schema 2, checked as it is read. Members it does not model are
/// kept: <see cref="With"/> changes what it is told and carries the rest over.
/// </summary>
public sealed class ImageManifest
{
    private readonly JsonObject _json;

    private ImageManifest(JsonObject json, string mediaType, Descriptor config, IReadOnlyList<Descriptor> layers, IReadOnlyDictionary<string, string>? annotations, Descriptor? subject, string? artifactType)
    {
        _json = json;
        MediaType = mediaType;
        Config = config;
        Layers = layers;
        Annotations = annotations;
        Subject = subject;
        ArtifactType = artifactType;
    }

    public string MediaType { get; }
    public ManifestFormat Format => MediaType == MediaTypes.OciManifest ? ManifestFormat.Oci : ManifestFormat.Docker;
    public Descriptor Config { get; }
    public IReadOnlyList<Descriptor> Layers { get; }
    public IReadOnlyDictionary<string, string>? Annotations { get; }
    public Descriptor? Subject { get; }
    public string? ArtifactType { get; }

    /// <param name="contentType">The type the transport gave (a registry's Content-Type); used when the document names none.</param>
    public static ImageManifest Parse(ReadOnlySpan<byte> bytes, string what, string? contentType = null) =>
        FromJson(JsonText.ParseObject(bytes, what), what, contentType);

    public static ImageManifest FromJson(JsonObject json, string what, string? contentType = null)
    {
        long? schema = JsonText.Long(json, "schemaVersion", what);
        if (schema != 2)
            throw new OccystrapException(schema == 1
                ? $"{what} is a Docker schema 1 manifest, which is no longer supported; push the image again with a current tool"
                : $"{what}: schemaVersion is {(schema?.ToString() ?? "missing")}, expected 2");
        string mediaType = JsonText.String(json, "mediaType", what) ?? contentType ?? MediaTypes.OciManifest;
        if (json["manifests"] is not null || MediaTypeTable.IsIndex(mediaType))
            throw new OccystrapException($"{what} is an index, not an image manifest");
        if (!MediaTypeTable.IsManifest(mediaType))
            throw new OccystrapException($"{what} has media type '{mediaType}', which is not an image manifest");
        var config = json["config"] as JsonObject ?? throw new MissingConfigException($"{what} has no config descriptor");
        var layers = json["layers"] is null ? [] : json["layers"] as JsonArray ?? throw new OccystrapException($"{what}: 'layers' is not a list");
        return new ImageManifest(json, mediaType,
            DescriptorJson.Read(config, $"{what}, config"),
            layers.Select((l, i) => l is JsonObject o ? DescriptorJson.Read(o, $"{what}, layer {i + 1}") : throw new OccystrapException($"{what}: layer {i + 1} is not an object")).ToList(),
            JsonText.StringMap(json, "annotations", what),
            json["subject"] is JsonObject s ? DescriptorJson.Read(s, $"{what}, subject") : null,
            JsonText.String(json, "artifactType", what));
    }

    /// <summary>A new manifest of <paramref name="format"/>.</summary>
    public static ImageManifest Create(ManifestFormat format, Descriptor config, IReadOnlyList<Descriptor> layers) =>
        new(new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypeTable.ManifestType(format) }, MediaTypeTable.ManifestType(format), config, layers, null, null, null);

    /// <summary>This manifest with another format, config or layers; every other member is kept.</summary>
    public ImageManifest With(ManifestFormat? format = null, Descriptor? config = null, IReadOnlyList<Descriptor>? layers = null) =>
        new(_json, format is { } f ? MediaTypeTable.ManifestType(f) : MediaType, config ?? Config, layers ?? Layers, Annotations, Subject, ArtifactType);

    /// <summary>The document's bytes, members in the order the specs give (known ones first, then the rest as they were).</summary>
    public byte[] ToBytes()
    {
        var o = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaType };
        var oldConfig = _json["config"] as JsonObject;
        o["config"] = DescriptorJson.Write(Config, oldConfig is not null && DescriptorJson.Read(oldConfig, "config").Digest == Config.Digest ? oldConfig : null);
        var oldLayers = (_json["layers"] as JsonArray)?.OfType<JsonObject>().ToList() ?? [];
        var layers = new JsonArray();
        for (int i = 0; i < Layers.Count; i++)
        {
            // A layer that is the same blob at the same place keeps the members a descriptor does not model.
            var old = i < oldLayers.Count && oldLayers[i]["digest"]?.GetValue<string>() == Layers[i].Digest.ToString() ? oldLayers[i] : null;
            layers.Add(DescriptorJson.Write(Layers[i], old));
        }
        o["layers"] = layers;
        foreach (var (k, v) in _json)
            if (!o.ContainsKey(k)) o[k] = v?.DeepClone();
        return JsonText.Serialize(o);
    }
}

/// <summary>An image manifest without a config descriptor: nothing of the image can be read (check's <c>config-descriptor</c>).</summary>
public sealed class MissingConfigException(string message) : OccystrapException(message);
