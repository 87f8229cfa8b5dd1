using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Layouts;

/// <summary>The image chosen from an OCI <c>index.json</c>: its manifest as stored and parsed, its config, and the index it came through.</summary>
public sealed record OciImageChoice(ImageName Name, string? RefName, ImageDocument Manifest, ImageManifest Parsed, byte[] Config, IReadOnlyList<Digest> DiffIds, ImageDocument? Index, Descriptor? IndexEntry);

/// <summary>
/// Chooses one image from the top-level index of an OCI layout (a folder, or a tar of one): by ref name,
/// then through nested indexes by <see cref="PlatformRule"/>. Used by every reader of OCI layouts.
/// </summary>
public static class OciIndexSelection
{
    /// <summary>The ref an index entry is known by: containerd's image name, else the OCI ref name.</summary>
    public static string? RefOf(Descriptor d) =>
        d.Annotations is { } a && a.TryGetValue(AnnotationKeys.ContainerdImageName, out var n) ? n : d.RefName;

    /// <param name="select">The ref wanted; null takes the only image (or, with <paramref name="firstWhenSeveral"/>, the first).</param>
    /// <param name="readBlob">Reads a blob whole, verified against the descriptor's digest and size.</param>
    /// <param name="problems">Set by check: a layer count that disagrees is reported there, not refused.</param>
    public static OciImageChoice Choose(ImageIndex top, string? select, PlatformChoice platform, Func<Descriptor, byte[]> readBlob,
        string where, bool firstWhenSeveral, ILogger? log, IImageProblems? problems = null)
    {
        if (top.Manifests.Count == 0) throw new OccystrapException($"{where} lists no image");
        Descriptor chosen;
        if (select is null)
        {
            if (top.Manifests.Count > 1 && !firstWhenSeveral)
                throw new OccystrapException($"{where} holds {top.Manifests.Count} images; choose one with ?ref= ({Refs(top)})");
            chosen = top.Manifests[0];
        }
        else
        {
            chosen = top.Manifests.FirstOrDefault(d => RefOf(d) == select)
                ?? top.Manifests.FirstOrDefault(d => RefOf(d) is { } r && r.EndsWith(":" + select, StringComparison.Ordinal))
                ?? throw new OccystrapException($"{where} has no image with ref '{select}' ({Refs(top)})");
        }
        string? refName = RefOf(chosen);
        // A ref that is only a tag (skopeo's oci:DIR:TAG) names no repository: the image stays unnamed.
        var name = refName is not null && (refName.Contains('/') || refName.Contains(':')) ? ImageName.Parse(refName) : ImageName.Unnamed;

        ImageDocument? through = null;
        Descriptor? entry = null;
        for (int depth = 0; depth < 4; depth++)
        {
            byte[] blob = readBlob(chosen);
            string what = $"blob {chosen.Digest} in {where}";
            var node = JsonText.ParseObject(blob, what);
            if (ImageIndex.Is(node, chosen.MediaType))
            {
                var nested = ImageIndex.FromJson(node, what, chosen.MediaType);
                through = new ImageDocument(chosen with { MediaType = nested.MediaType }, blob);
                chosen = entry = PlatformRule.Choose(nested.Manifests, platform, where);
                var offered = PlatformRule.Offered(nested.Manifests);
                if (offered.Count > 1)
                    log?.LogInformation("{Where} holds a multi-platform index ({Count} platforms); using {Platform}", where, offered.Count, entry.Platform?.ToString() ?? "its first entry");
                continue;
            }
            var manifest = ImageManifest.FromJson(node, what, string.IsNullOrEmpty(chosen.MediaType) ? null : chosen.MediaType);
            var config = readBlob(manifest.Config);
            var diffIds = ImageConfig.DiffIdsOf(config, $"config in {where}");
            DescriptorCheck.LayerCount(manifest.Layers.Count, diffIds.Count, $"a manifest in {where}", problems);
            return new OciImageChoice(name, refName, new ImageDocument(chosen with { MediaType = manifest.MediaType }, blob), manifest, config, diffIds, through, entry);
        }
        throw new OccystrapException($"indexes in {where} nest too deeply");
    }

    private static string Refs(ImageIndex top)
    {
        var refs = top.Manifests.Select(RefOf).Where(r => r is not null).Distinct().ToList();
        return refs.Count == 0 ? "none of its images has a ref name" : "it has: " + string.Join(", ", refs);
    }
}
