using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Folders;

namespace Occystrap.Inputs.Folder;

/// <summary><c>dir://PATH[?image=NAME:TAG]</c>: an image read back from a dir:// folder.</summary>
[InputPlugin("dir")]
public sealed class FolderInput : IInputPlugin
{
    public string Description => "Read an image back from a dir:// folder (as recreate-image does)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("image", OptionType.String, "Which image of a folder holding several, as repo:tag from its catalog.json (default: the only one)"),
    ];

    public Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "dir://");
        return Task.FromResult<IImageSource>(ImageFolderImage.Open(path, invocation.Options.GetString("image"), invocation.Logger));
    }
}
