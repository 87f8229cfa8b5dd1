using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>
/// Checks a small blob read whole (a manifest, a config) against its descriptor. Without problems to
/// report to, a mismatch refuses the image; with them (<c>check</c>), it is reported and reading goes on.
/// </summary>
public static class DescriptorCheck
{
    /// <param name="what">Names the blob in messages, e.g. "blob sha256:... in layout".</param>
    public static void Check(ReadOnlySpan<byte> bytes, Descriptor descriptor, string what, IImageProblems? problems)
    {
        if (problems is null)
        {
            descriptor.Digest.Verify(bytes, what);
            if (bytes.Length != descriptor.Size)
                throw new OccystrapException($"{what} is {bytes.Length} bytes, but its descriptor says {descriptor.Size}");
            return;
        }
        string kind = IsConfig(descriptor.MediaType) ? "config" : "manifest";
        if (!descriptor.Digest.Matches(bytes))
            problems.Report($"{kind}-digest", $"{what} hashes to {Digest.Compute(bytes, descriptor.Digest.Algorithm)}, not to the digest that names it");
        if (bytes.Length != descriptor.Size)
            problems.Report($"{kind}-size", $"{what} is {bytes.Length} bytes, but its descriptor says {descriptor.Size}");
    }

    /// <summary>A layer count that disagrees with the config's diff_ids: refused, or reported and read up to the shorter of the two.</summary>
    public static int LayerCount(int layers, int diffIds, string what, IImageProblems? problems)
    {
        if (layers == diffIds) return layers;
        string message = $"{what} lists {layers} layers but the config has {diffIds} diff_ids";
        if (problems is null) throw new OccystrapException(message);
        problems.Report("layer-count", message);
        return Math.Min(layers, diffIds);
    }

    private static bool IsConfig(string? mediaType) =>
        mediaType is not null && (mediaType.Contains("config", StringComparison.OrdinalIgnoreCase) || mediaType.Contains("container.image.v1", StringComparison.Ordinal));
}
