using Occystrap.Abstractions;

namespace Occystrap.Samples.SetOwner;

/// <summary>
/// <c>-f set-owner:uid=N,gid=N</c>: gives every file in every layer one owner, e.g. to ship an image
/// whose files belong to the user it runs as. A whole third-party filter in one class.
/// </summary>
[FilterPlugin("set-owner")]
public sealed class SetOwnerFilter : IFilterPlugin
{
    public string Description => "Set the owner (uid, gid) of every entry in every layer";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("uid", OptionType.Int, "The numeric user id") { Required = true },
        new("gid", OptionType.Int, "The numeric group id (default: the uid)"),
    ];

    public IImageFilter Create(PluginInvocation invocation)
    {
        long uid = invocation.Options.GetInt("uid")!.Value;
        long gid = invocation.Options.GetInt("gid") ?? uid;
        return new Filter(uid, gid);
    }

    private sealed class Filter(long uid, long gid) : IImageFilter, ILayerEntryFilter
    {
        public ILayerEntryFilter? ForLayer(LayerInfo layer) => this;

        public EntryAction Process(LayerEntry entry)
        {
            entry.Uid = uid;
            entry.Gid = gid;
            entry.UserName = null;
            entry.GroupName = null;
            return EntryAction.Keep;
        }
    }
}
