using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.Tar;
using Occystrap.Host.Plugins;

namespace Occystrap.Host.Cli;

/// <summary>
/// <c>check [--fast] SOURCE</c>: every finding about an image, each with a stable id, a severity and the
/// layer it concerns. Fast mode reads the manifest and config only; full mode also streams each layer
/// once (decompress, hash, walk the tar) and keeps nothing but an index of paths. Exit 1 on any error.
/// </summary>
internal static class CheckCommand
{
    private const long LargeLayer = 1L << 30;

    private sealed record Finding(string Id, string Severity, int? Layer, string Message);

    /// <summary>What the source read past, each an error finding under the check id it gives.</summary>
    private sealed class Collected(List<Finding> findings) : IImageProblems
    {
        public void Report(string check, string message)
        {
            lock (findings) findings.Add(new(check, "error", null, message));
        }
    }

    public static async Task<int> RunAsync(App app, string source, bool fast, CancellationToken ct)
    {
        InfoCommand.RefuseDockerPush(source, "check");
        var findings = new List<Finding>();
        string name = source;
        try
        {
            var (inputPlugin, inputSpec) = app.Input(source);
            // The source reports what it can read past (a config digest or size, a layer count) instead of refusing the image.
            var invocation = app.Invocation(inputPlugin, inputSpec, PluginRole.Input) with { Problems = new Collected(findings) };
            await using var image = await inputPlugin.OpenAsync(invocation, ct).ConfigureAwait(false);
            name = image.Name.ToString();
            Metadata(image, findings);
            if (!fast) await LayersAsync(image, findings, ct).ConfigureAwait(false);
        }
        catch (OccystrapException e) when (e is not UsageException)
        {
            // A source that cannot be read (or stops being readable) is a finding, not a crash.
            findings.Add(new(e is MissingConfigException ? "config-descriptor" : "source", "error", null, e.Message));
        }
        // The source and the metadata checks may both have seen a layer count that disagrees: one finding.
        findings = findings.Where((f, i) => f.Id != "layer-count" || !findings.Take(i).Any(e => e.Id == f.Id)).ToList();
        Print(app, name, fast, findings);
        return findings.Any(f => f.Severity == "error") ? 1 : 0;
    }

    private static void Metadata(IImageSource image, List<Finding> findings)
    {
        var config = ImageConfig.Parse(image.Config, "the image config");
        if (config.RootFsType != "layers") findings.Add(new("rootfs-type", "error", null, $"the config's rootfs.type is '{config.RootFsType}', not 'layers'"));
        int layerCount = image.Layers.Count;
        if (image.Manifest is { } doc)
        {
            var json = JsonText.ParseObject(doc.Bytes.ToArray(), "the manifest");
            if (json["schemaVersion"] is not JsonValue v || !v.TryGetValue(out int schema) || schema != 2)
                findings.Add(new("schema-version", "error", null, $"the manifest's schemaVersion is {json["schemaVersion"]?.ToJsonString() ?? "missing"}, not 2"));
            var manifest = ImageManifest.Parse(doc.Bytes.Span, "the manifest");
            findings.Add(new("media-type", "info", null, manifest.Format == ManifestFormat.Oci ? $"an OCI manifest ({manifest.MediaType})" : $"a Docker v2 manifest ({manifest.MediaType})"));
            if (manifest.Layers.Count != config.DiffIds.Count)
                findings.Add(new("layer-count", "error", null, $"the manifest has {manifest.Layers.Count} layers but the config has {config.DiffIds.Count} diff_ids"));
            layerCount = manifest.Layers.Count;
            int zstd = 0;
            for (int i = 0; i < manifest.Layers.Count; i++)
            {
                var layer = manifest.Layers[i];
                if (MediaTypeTable.LayerCompressionOf(layer.MediaType) == LayerCompression.Zstd) zstd++;
                if (layer.Size > LargeLayer) findings.Add(new("large-layer", "warning", i, $"layer {i + 1} is {layer.Size / 1e9:0.0} GB compressed"));
            }
            if (zstd > 0)
                findings.Add(new("zstd-compat", "warning", null, $"{zstd} layer(s) use zstd compression; Docker Engine before 20.10 and containerd before 1.5 cannot pull this image"));
            if (image.IndexEntry?.Platform is { } wanted && (wanted.Os != config.Os || wanted.Architecture != config.Architecture))
                findings.Add(new("platform-mismatch", "error", null, $"the index entry says {wanted} but the config says {config.Platform}"));
        }
        var made = config.History.Count(h => !h.EmptyLayer);
        if (config.History.Count == 0) findings.Add(new("history-count", "info", null, "the config has no history"));
        else if (made != layerCount) findings.Add(new("history-count", "error", null, $"the config's history has {made} entries that made a layer, but the image has {layerCount} layers"));
        foreach (var d in config.DiffIds.GroupBy(d => d).Where(g => g.Count() > 1))
            findings.Add(new("duplicate-diff-id", "warning", null, $"diff_id {d.Key} appears {d.Count()} times"));
        if (config.Config.ArgsEscaped == true)
            findings.Add(new("args-escaped", "warning", null, "the config sets the deprecated ArgsEscaped (a Windows-only setting)"));
    }

    private static async Task LayersAsync(IImageSource image, List<Finding> findings, CancellationToken ct)
    {
        var seenFiles = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        foreach (var layer in image.Layers)
        {
            int i = layer.Index;
            try
            {
                await using var stored = await layer.OpenAsync(ct).ConfigureAwait(false);
                using var blobHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                using var diffHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var counted = new Hashing(stored, blobHash);
                await using var plain = new Hashing(LayerCompressionCodec.OpenDecompressed(counted, layer.Compression, $"layer {i + 1}"), diffHash);
                int entries = 0;
                try
                {
                    using var reader = new TarArchiveReader(plain, leaveOpen: true) { Description = $"layer {i + 1}" };
                    while (reader.Next() is { } record)
                    {
                        entries++;
                        Entry(record.Entry, i, findings, seenFiles);
                    }
                    if (entries == 0) findings.Add(new("empty-layer", "info", i, $"layer {i + 1} holds no entries"));
                }
                catch (TarFormatException e)
                {
                    findings.Add(new("tar-format", "error", i, $"layer {i + 1} is not a valid tar: {e.Message}"));
                }
                await plain.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
                var diffId = Digest.FromHash(diffHash);
                if (diffId != layer.DiffId)
                    findings.Add(new("diff-id", "error", i, $"layer {i + 1} decompresses to {diffId}, but the config says {layer.DiffId}"));
                if (layer.StoredSize is { } size && counted.Count != size)
                    findings.Add(new("layer-size", "error", i, $"layer {i + 1} is {counted.Count} bytes, but its descriptor says {size}"));
            }
            catch (OccystrapException e)
            {
                // A blob that does not match its digest, or does not decompress: the layer's own finding, and on to the next.
                findings.Add(new(e is DigestMismatchException ? "blob-digest" : e is CorruptDataException ? "compression" : "layer", "error", i, e.Message));
            }
        }
        foreach (var (path, layers) in seenFiles.Where(f => f.Value.Count > 1).OrderBy(f => f.Key, StringComparer.Ordinal).Take(10))
            findings.Add(new("duplicate-file", "info", null, $"'{path}' is in layers {string.Join(", ", layers.Select(l => l + 1))}"));
    }

    private static void Entry(LayerEntry entry, int layer, List<Finding> findings, Dictionary<string, List<int>> seen)
    {
        string path = entry.Path.StartsWith("./", StringComparison.Ordinal) ? entry.Path[2..] : entry.Path;
        if (path.StartsWith('/')) findings.Add(new("absolute-path", "error", layer, $"'{entry.Path}' is an absolute path"));
        if (Escapes(path)) findings.Add(new("path-traversal", "error", layer, $"'{entry.Path}' climbs out of the root with '..'"));
        if (entry.Kind == EntryKind.Symlink && entry.LinkTarget is { } target && !target.StartsWith('/') && Escapes(Parent(path) + target))
            findings.Add(new("symlink-escape", "error", layer, $"symlink '{entry.Path}' -> '{target}' leads out of the root"));
        if (entry.Kind == EntryKind.HardLink && entry.LinkTarget is { } hard && (hard.StartsWith('/') || Escapes(hard)))
            findings.Add(new("hardlink-escape", "error", layer, $"hardlink '{entry.Path}' -> '{hard}' leads out of the root"));
        string file = entry.FileName;
        if (file == ".wh." || (file.StartsWith(".wh..wh.", StringComparison.Ordinal) && file != ".wh..wh..opq"))
            findings.Add(new("whiteout", "error", layer, $"'{entry.Path}' is a malformed whiteout"));
        if (entry.ModificationTime < DateTimeOffset.UnixEpoch)
            findings.Add(new("tar-timestamp", "error", layer, $"'{entry.Path}' has a negative mtime ({entry.ModificationTime.ToUnixTimeSeconds()})"));
        bool special = (entry.Mode & 0xC00) != 0, worldWritable = (entry.Mode & 0x2) != 0 && entry.Kind is EntryKind.File or EntryKind.Directory && (entry.Mode & 0x200) == 0;
        if (special && (entry.Mode & 0x2) != 0)
            findings.Add(new("tar-permissions", "warning", layer, $"'{entry.Path}' is setuid or setgid and world-writable ({Convert.ToString(entry.Mode, 8)})"));
        else if (special && entry.Kind == EntryKind.File)
            findings.Add(new("setuid", "info", layer, $"'{entry.Path}' is setuid or setgid ({Convert.ToString(entry.Mode, 8)})"));
        else if (worldWritable)
            findings.Add(new("world-writable", "info", layer, $"'{entry.Path}' is world-writable ({Convert.ToString(entry.Mode, 8)})"));
        if (entry.Kind == EntryKind.File && !entry.IsWhiteout)
        {
            if (!seen.TryGetValue(path, out var layers)) seen[path] = layers = [];
            if (!layers.Contains(layer)) layers.Add(layer);
        }
    }

    private static string Parent(string path)
    {
        int slash = path.TrimEnd('/').LastIndexOf('/');
        return slash < 0 ? "" : path[..(slash + 1)];
    }

    private static bool Escapes(string path)
    {
        int depth = 0;
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..") depth--;
            else if (part != ".") depth++;
            if (depth < 0) return true;
        }
        return false;
    }

    private static void Print(App app, string name, bool fast, List<Finding> findings)
    {
        int errors = findings.Count(f => f.Severity == "error"), warnings = findings.Count(f => f.Severity == "warning");
        if (app.Globals.OutputFormat == "json")
        {
            var doc = new JsonObject
            {
                ["schemaVersion"] = 1,
                ["image"] = name,
                ["mode"] = fast ? "fast" : "full",
                ["errors"] = errors,
                ["warnings"] = warnings,
                ["findings"] = new JsonArray(findings.Select(f => (JsonNode)new JsonObject
                {
                    ["check"] = f.Id,
                    ["severity"] = f.Severity,
                    ["layer"] = f.Layer,
                    ["message"] = f.Message,
                }).ToArray()),
            };
            Console.Out.WriteLine(Encoding.UTF8.GetString(JsonText.Serialize(doc)));
            return;
        }
        var s = new StringBuilder();
        foreach (var (title, severity) in new[] { ("Errors", "error"), ("Warnings", "warning"), ("Info", "info") })
        {
            var list = findings.Where(f => f.Severity == severity).ToList();
            if (list.Count == 0) continue;
            s.Append(title).Append(":\n");
            foreach (var f in list) s.Append($"  [{f.Id}] {f.Message}\n");
            s.Append('\n');
        }
        s.Append($"Check complete ({(fast ? "fast, metadata only" : "full")}): {errors} error(s), {warnings} warning(s)\n");
        Console.Out.Write(s.ToString());
    }

    /// <summary>Hashes what passes and counts it.</summary>
    private sealed class Hashing(Stream inner, IncrementalHash hash) : Formats.IO.ReadOnlyStream
    {
        /// <summary>Bytes read so far.</summary>
        public long Count { get; private set; }

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if (n > 0)
            {
                hash.AppendData(buffer[..n]);
                Count += n;
            }
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
