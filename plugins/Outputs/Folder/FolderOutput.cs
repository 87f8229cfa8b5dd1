using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Folders;

namespace Occystrap.Outputs.Folder;

/// <summary><c>dir://PATH[?unique_names=true][&amp;expand=true]</c>: an image as a folder of layer tars, optionally expanded.</summary>
[OutputPlugin("dir")]
public sealed class FolderOutput : IOutputPlugin
{
    public string Description => "Write an image to a folder: config, DIFFID/layer.tar, manifest and catalog; optionally the merged filesystem";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("unique_names", OptionType.Bool, "Name the manifest after the image and add to an existing folder, each shared layer stored once") { Default = false },
        new("expand", OptionType.Bool, "Also apply the layers, whiteouts included, into PATH/MANIFEST-NAME/ (e.g. PATH/manifest/)") { Default = false },
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "dir://");
        var o = invocation.Options;
        return Task.FromResult<IImageSink>(new ImageFolderWriter(path, o.GetBool("unique_names") ?? false, o.GetBool("expand") ?? false,
            invocation.Output.Parallel, invocation.Logger));
    }
}
