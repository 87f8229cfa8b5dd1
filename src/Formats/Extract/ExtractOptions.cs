namespace Occystrap.Formats.Extract;

/// <summary>What <see cref="LayerExtractor"/> does with whiteout entries (<c>.wh.NAME</c> and <c>.wh..wh..opq</c>).</summary>
public enum WhiteoutMode
{
    /// <summary>Delete what they hide from the lower layers: the result is the merged file system.</summary>
    Apply,

    /// <summary>Write them as overlayfs does: a 0:0 character device for <c>.wh.NAME</c>, <c>trusted.overlay.opaque=y</c> for an opaque directory.</summary>
    Overlay,

    /// <summary>Write them as the ordinary files they are in the tar.</summary>
    Keep,
}

public sealed class ExtractOptions
{
    public WhiteoutMode Whiteouts { get; init; } = WhiteoutMode.Apply;

    /// <summary>
    /// Whether owners, devices and <c>trusted.*</c>/<c>security.*</c> xattrs are reproduced, and a failure to do so is an error.
    /// When false they are skipped and counted in <see cref="ExtractReport.Skipped"/>. Null: true when running as root.
    /// </summary>
    public bool? Privileged { get; init; }
}
